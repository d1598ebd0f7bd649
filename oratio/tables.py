"""The DynamoDB tables: one description shared by the CDK stacks, the adapters and the test fixtures.

Every key that belongs to a tenant starts with the tenant (vendor) id, so isolation lives in the
key itself. Access patterns, per table:

agents                      pk = vendor_id, sk = agent_id
  - get / update / delete one agent (vendor API, call router)         GetItem (consistent)
  - list a vendor's agents, paginated                                  Query pk
  - list a vendor's agents by status                                   Query GSI by_status
        (vendor_status = "<vendor_id>#<status>", sort created_at)
  - resolve a dialed number to its agent (call router)                 Query GSI by_phone_number
        (keys only), then a consistent GetItem so a pause is honoured at once
  - update with optimistic locking (vendor API)                        Put conditioned on `version`
  - deleted agents are kept, then purged                               TTL expires_at (set on delete)
  - an agent's status and live definition version (tenant agent,       GetItem (consistent, projected:
        voice bridge, voice code hook; re-read every few seconds)           status, live_version)

agent_definitions           pk = "<vendor_id>#<agent_id>", sk = "V#<version:06d>"
  - write a new version (vendor API, in one transaction with the       Put conditioned on
        agent's update, so a number is never reused or overwritten)         attribute_not_exists(pk)
  - one version (vendor API, tenant agent: once per version and        GetItem (consistent)
        container, versions are immutable)
  - an agent's versions, newest first (vendor API)                     Query pk, ScanIndexForward false

conversations               pk = "<tenant_id>#<call_id>", sk = record kind
  - the call session (router opens it, voice paths close it)           sk = "SESSION"
  - turns in order (transcripts)                                       sk = "TURN#<seq:06d>"
  - transitions, escalations, tier changes                             sk = "EVENT#<iso time>#<kind>"
        (a "#<n>" suffix when two events of one kind share an instant; Query begins_with "EVENT#")
  - the session's turn counter (atomic ADD; chat sessions have no      sk = "SEQUENCE"
        SESSION item, so the counter is an item of its own)
  - the session's workflow state (role, lead score, voice tier)        sk = "WORKFLOW"
        (a put conditioned on `turns`, so a stale writer cannot win)
  - a Connect voice turn's outcome, awaiting pickup after a holding     sk = "VOICE#<turn id>"
        reply (written once by the turn worker, read consistently by the flow's pickup; expires in a day)
  - list an agent's conversations, newest first (vendor API)           GSI by_agent
        (agent_key = "<tenant_id>#<agent_id>", sort started_at; only SESSION items carry it)
  - a tenant's open sessions whose slot lease ran out (router at        GSI by_lease (keys only)
        admission, the slot reconciler): lease_tenant = "<tenant_id>", sort lease_expires_at (epoch
        seconds, a number); only open SESSION items carry lease_tenant, so closed calls leave the index
  - a tenant's open messaging conversations by the time they fall     GSI by_idle: idle_shard =
        quiet (the idle sweep, once a minute; oratio/channels/idle.py)      "<tenant_id>#idle#<n>", sort idle_at
        (epoch seconds); only open messaging SESSION items carry idle_shard: settling one removes it
  - items expire with the tenant's retention period                    TTL expires_at

customer_context            pk = "<tenant_id>#<identity>" (e.g. "cozy-comfort#phone:+15551234567")
  - profile, lead data, recent conversations on any channel            sk = "PROFILE" | "CONV#<iso>#<session>"
        (one Query on pk reads them all; the newest N summaries are kept, older ones deleted on save)
  - another identity of the same customer (WhatsApp id, phone number)  sk = "LINK" -> `customer_key`
        (written with the profile in one transaction; a lookup by any identity follows its link)
  - items expire a retention period after the customer's last save    TTL expires_at

provisioning_jobs           pk = vendor_id, sk = job_id (one item per job, steps inside)
  - job status with one entry per channel step                         GetItem

usage                       pk = tenant_id, sk = "<YYYY-MM>#<category>#<item>"
  - month-to-date dollars by category and item (budgets, API)          Query pk, begins_with period
  - the month's total, what budgets read                               sk = "<YYYY-MM>#total" (GetItem)
  - an agent's month                                                   sk = "<YYYY-MM>#agent#<agent_id>"
  - a day's total, per category, per agent (GET /api/v1/usage)         Query pk, sk between "DAY#<from>" and
        "DAY#<to>#~" (sk = "DAY#<YYYY-MM-DD>#total|category#<category>|agent#<agent_id>")
        (every spend is an atomic ADD into each of its rows)

tenant_state                pk = tenant_id, sk = state key
  - live concurrent calls (counter with a conditional limit)           sk = "calls#active"
  - circuit breaker state per dependency                               sk = "breaker#<dependency>"
        (speech_to_speech, cascaded_speech, agent; every write conditioned on the `version` it read;
        all of a tenant's breakers in one Query begins_with "breaker#")
  - the vendor's agent slots (counter, conditional on the quota)       sk = "agents#count"
        (changed in one transaction with the agent's create / delete)
  - which of the tenant's agents a number answers (one at a time;      sk = "number#<e164>"
        which tenant owns the number is the numbers table's say)
  - requests in the current minute (rate limit; TTL)                   sk = "rate#<epoch minute>"
  - the knowledge base's running ingestion job and the documents       sk = "ingestion#current" |
        waiting for the next one                                            "ingestion#pending"
  - signed webhook tokens already accepted (Vonage `jti`; replays      sk = "webhook-token#<jti>"
        are refused by a conditional write; expired items count as absent)  (TTL expires_at)
  - a Twilio call dialled through to the Connect number: its agent,     sk = "dial-through#<connect e164>#
        decision and webhook session, taken once by Connect's router        <caller e164>" (TTL expires_at;
        (conditional update, in one transaction with the sessions)          written and taken by UpdateItem)

audit                       pk = vendor_id, sk = "<iso time>#<request id>" (append-only)
  - one entry per vendor API write and AgentCreator approval           PutItem conditioned on a new key
  - a vendor's own entries, newest first (vendor API)                  Query pk, ScanIndexForward false
        (no function role may UpdateItem or DeleteItem it: tests/infra assert it; entries expire never)
numbers                     the platform-wide number registry: which one tenant owns a phone number
                            pk = "<e164>", sk = "owner"                -> tenant_id, kind (connect | bridge), claimed_by
                            pk = "<tenant_id>", sk = "number#<e164>"   -> the same claim, under the tenant's key
  - claim a number for a tenant (its tenant stack at deploy, for the   TransactWriteItems: Put the owner item
        Connect number and the tenant file's bridge numbers; the            conditioned `attribute_not_exists(pk)
        operator's scripts/phone_numbers.py)                                      OR tenant_id = :tenant`, Put the
                                                                            tenant item (both or neither)
  - does tenant T own number N (call router, telephony webhook,        GetItem pk = T, sk = "number#N"
        vendor API before an agent takes N)                                 (a tenant's functions may read only
                                                                            LeadingKeys = their tenant id)
  - is N registered at all (vendor API: tells "in use elsewhere"       GetItem pk = N, sk = "owner"
        from "not registered", naming no tenant)
  - a tenant's numbers (operator)                                      Query pk = T, begins_with "number#"
  - give a number up (tenant stack on delete, operator)                TransactWriteItems: Delete both, the
                                                                            owner item conditioned on `tenant_id`
  - a number is never claimed by writing the agents table: the vendor API refuses an agent a number its tenant
    does not own, and the router answers a number only for its owner, whatever the agents table says

creator_jobs                pk = "<tenant_id>#<job_id>", sk = record kind (AgentCreator; spec CREATOR_JOBS,
                            adapter oratio.agent_creator.adapters.dynamodb_jobs; the platform stack creates it)
  - create a job (vendor API on POST .../sop)                          sk = "JOB", Put attribute_not_exists(pk)
  - update the job's status, stage, error, candidate version           sk = "JOB", Put (whole item)
  - one record per stage attempt, in pipeline order                    sk = "STAGE#<position:02d>#<stage>#<attempt:03d>"
  - a job with all its stage records (GET /api/v1/creator-jobs/{id})   Query pk (consistent)
  - an agent's jobs, newest first                                      GSI by_agent (agent_key =
        "<tenant_id>#<agent_id>", sort created_at; only JOB items carry it)
  - large outputs (the SOP, stage outputs over 32 KB, the report)      S3, the artifact bucket, under
        "agent-creator/<tenant>/<agent>/<job_id>/..." (the item keeps the key)
  - items expire (TTL expires_at) a retention period after the job was created

knowledge_documents         pk = "<vendor_id>#<agent_id>", sk = document_id
  - record an announced upload, list an agent's documents (vendor API) PutItem / Query pk
  - status from the S3 upload and the ingestion job (ingestion Lambda) UpdateItem
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str | None = None
    keys_only: bool = False
    sort_key_number: bool = False  # the sort key is a number (epoch seconds) rather than a string


@dataclass(frozen=True)
class TableSpec:
    key: str  # stable short name: env var suffix, SSM parameter segment, construct id
    partition_key: str = "pk"
    sort_key: str = "sk"
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None

    @property
    def env_var(self) -> str:
        return f"ORATIO_TABLE_{self.key.upper()}"

    @property
    def key_attribute_types(self) -> dict[str, str]:
        """Every key attribute of the table and its indexes with its DynamoDB type ("S" or "N")."""
        types = {self.partition_key: "S", self.sort_key: "S"}
        for index in self.indexes:
            types[index.partition_key] = "S"
            if index.sort_key:
                types[index.sort_key] = "N" if index.sort_key_number else "S"
        return types


def table_settings(env: Mapping[str, str], *specs: TableSpec) -> dict[str, str | None]:
    """The table names a function's settings read from its environment (set by the CDK stacks from the same
    specs): `<key>_table` -> the value of the spec's env var, None when unset (the settings model then names the
    missing field). One mapping for every handler's settings class."""
    return {f"{spec.key}_table": env.get(spec.env_var) for spec in specs}


# A tenant's open call sessions by lease expiry (the slot reconciler and the router at admission query it).
LEASE_INDEX = "by_lease"
# A tenant's open messaging conversations by the time they count as ended (the idle sweep queries it).
IDLE_INDEX = "by_idle"

AGENTS = TableSpec(
    key="agents",
    ttl_attribute="expires_at",
    indexes=(
        Index("by_phone_number", "phone_number", keys_only=True),
        Index("by_status", "vendor_status", "created_at"),
    ),
)
CONVERSATIONS = TableSpec(
    key="conversations",
    indexes=(
        Index("by_agent", "agent_key", "started_at"),
        Index(LEASE_INDEX, "lease_tenant", "lease_expires_at", keys_only=True, sort_key_number=True),
        Index(IDLE_INDEX, "idle_shard", "idle_at", sort_key_number=True),
    ),
    ttl_attribute="expires_at",
)
AGENT_DEFINITIONS = TableSpec(key="agent_definitions")
CUSTOMER_CONTEXT = TableSpec(key="customer_context", ttl_attribute="expires_at")
PROVISIONING_JOBS = TableSpec(key="provisioning_jobs", ttl_attribute="expires_at")
USAGE = TableSpec(key="usage", ttl_attribute="expires_at")  # only charge markers expire (usage rows carry none)
TENANT_STATE = TableSpec(key="tenant_state", ttl_attribute="expires_at")
KNOWLEDGE_DOCUMENTS = TableSpec(key="knowledge_documents")
AUDIT = TableSpec(key="audit")
NUMBERS = TableSpec(key="numbers")
CREATOR_JOBS = TableSpec(
    key="creator_jobs", ttl_attribute="expires_at", indexes=(Index("by_agent", "agent_key", "created_at"),)
)

ALL_TABLES: tuple[TableSpec, ...] = (
    AGENTS,
    AGENT_DEFINITIONS,
    CONVERSATIONS,
    CUSTOMER_CONTEXT,
    PROVISIONING_JOBS,
    USAGE,
    TENANT_STATE,
    KNOWLEDGE_DOCUMENTS,
    AUDIT,
    NUMBERS,
    CREATOR_JOBS,
)
