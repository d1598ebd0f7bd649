"""Composition of the tenant agent: which adapters sit behind each port, deployed or local.

The runtime app calls `build_engine()` on its first invocation (never at import): it reads
`RuntimeSettings` from the environment the CDK construct sets (`stacks/constructs/agent_runtime.py`)
and assembles the `TurnEngine` from AWS adapters, or from the honest local stand-ins when
`ORATIO_LOCAL_MODE=1`. Engine and adapter modules are imported inside the builders so the app, its tests
and the CDK app import this module without them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oratio.agent.assembly import EngineParts, assemble_engine, redacting, tool_factory
from oratio.agent_definitions.source import DefinitionSource, SourceSettings
from oratio.config import TenantConfig, load_tenant_file
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, CUSTOMER_CONTEXT, USAGE

if TYPE_CHECKING:  # annotations only: the voice bridge imports this module for its settings, not the agent kit
    from oratio.agent.ports import KnowledgeRetriever, TurnEngine

# --- Environment variables: the construct writes them, `RuntimeSettings` reads them.
ENV_LOCAL_MODE = "ORATIO_LOCAL_MODE"
ENV_TENANT_CONFIG_JSON = "ORATIO_TENANT_CONFIG_JSON"
# Deployed, the tenant JSON is split over ORATIO_TENANT_CONFIG_JSON_0, _1, ...: CloudFormation's schema for
# AWS::BedrockAgentCore::Runtime caps each environment value at 2,048 characters (and a runtime at 50).
ENV_TENANT_CONFIG_PART = "ORATIO_TENANT_CONFIG_JSON_"
ENV_VALUE_MAX_CHARS = 2_048
MAX_TENANT_CONFIG_PARTS = 30
ENV_TENANT_ID = "ORATIO_TENANT_ID"
ENV_TENANTS_DIR = "ORATIO_TENANTS_DIR"
ENV_MEMORY_ID = "ORATIO_MEMORY_ID"
ENV_KNOWLEDGE_BASE_ID = "ORATIO_KNOWLEDGE_BASE_ID"
ENV_VECTOR_BUCKET = "ORATIO_VECTOR_BUCKET"
ENV_VECTOR_INDEX = "ORATIO_VECTOR_INDEX"
ENV_REGION = "ORATIO_AWS_REGION"
ENV_RAW_TEXT_KEY = "ORATIO_RAW_TEXT_KEY_ARN"  # the tenant's key for raw transcripts (only if it opts in)
ENV_HOST = "ORATIO_AGENT_HOST"
ENV_PORT = "ORATIO_AGENT_PORT"
ENV_DEFINITION_RECHECK = "ORATIO_DEFINITION_RECHECK_SECONDS"
# The tables the agent uses, named by `PlatformTableRefs.environment(...)`.
AGENT_TABLES = (AGENTS, AGENT_DEFINITIONS, CONVERSATIONS, CUSTOMER_CONTEXT, USAGE)
# `RuntimeSettings` field -> the environment variable it is read from.
ENVIRONMENT = {
    "local_mode": ENV_LOCAL_MODE,
    "tenant_config_json": ENV_TENANT_CONFIG_JSON,
    "tenant_id": ENV_TENANT_ID,
    "tenants_dir": ENV_TENANTS_DIR,
    "agents_table": AGENTS.env_var,
    "agent_definitions_table": AGENT_DEFINITIONS.env_var,
    "definition_recheck_seconds": ENV_DEFINITION_RECHECK,
    "conversations_table": CONVERSATIONS.env_var,
    "customer_context_table": CUSTOMER_CONTEXT.env_var,
    "usage_table": USAGE.env_var,
    "memory_id": ENV_MEMORY_ID,
    "knowledge_base_id": ENV_KNOWLEDGE_BASE_ID,
    "vector_bucket": ENV_VECTOR_BUCKET,
    "vector_index": ENV_VECTOR_INDEX,
    "region": ENV_REGION,
    "raw_text_key": ENV_RAW_TEXT_KEY,
}

DEFAULT_TENANTS_DIR = Path(__file__).resolve().parents[2] / "tenants"  # the repository's, for local runs
DEFAULT_PORT = 8080  # the port AgentCore Runtime sends HTTP-protocol traffic to
LOCAL_HOST = "127.0.0.1"


class WiringError(RuntimeError):
    """The runtime's environment cannot make an engine; the message names the variables to fix."""


class RuntimeSettings(BaseModel):
    """What the tenant agent reads from its environment on first use (see `ENVIRONMENT`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    local_mode: bool = False
    tenant_config_json: str | None = None
    tenant_id: str | None = None
    tenants_dir: Path = DEFAULT_TENANTS_DIR
    agents_table: str | None = None
    agent_definitions_table: str | None = None
    definition_recheck_seconds: float = Field(default=SourceSettings().recheck_seconds, ge=0, le=60)
    conversations_table: str | None = None
    customer_context_table: str | None = None
    usage_table: str | None = None
    memory_id: str | None = None
    knowledge_base_id: str | None = None
    vector_bucket: str | None = None
    vector_index: str | None = None
    region: str | None = None
    raw_text_key: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> RuntimeSettings:
        if self.tenant_config_json is None and self.tenant_id is None:
            raise ValueError(
                f"set {ENV_TENANT_CONFIG_PART}0.. or {ENV_TENANT_CONFIG_JSON} (deployed), or {ENV_TENANT_ID} (local)"
            )
        if not self.local_mode:
            required = (
                "agents_table",
                "agent_definitions_table",
                "conversations_table",
                "customer_context_table",
                "usage_table",
                "memory_id",
            )
            missing = [ENVIRONMENT[name] for name in required if not getattr(self, name)]
            if not (self.vector_bucket and self.vector_index) and not self.knowledge_base_id:
                missing.append(f"{ENV_VECTOR_BUCKET} and {ENV_VECTOR_INDEX} (or {ENV_KNOWLEDGE_BASE_ID})")
            if missing:
                raise ValueError(
                    f"deployed mode needs {', '.join(missing)}; set them, or {ENV_LOCAL_MODE}=1 for local adapters"
                )
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        environ = os.environ if environ is None else environ
        values = {name: environ[var] for name, var in ENVIRONMENT.items() if environ.get(var)}
        if "tenant_config_json" not in values and f"{ENV_TENANT_CONFIG_PART}0" in environ:
            values["tenant_config_json"] = join_tenant_config(environ)
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            problems = "; ".join(
                f"{ENVIRONMENT.get(str(err['loc'][0]), 'settings') if err['loc'] else 'settings'}: {err['msg']}"
                for err in e.errors(include_url=False, include_input=False)
            )
            raise WiringError(f"tenant agent settings are invalid: {problems}") from e

    def definitions(self) -> DefinitionSource:
        """The agents' definitions: read from the vendor API's tables when they are named (always deployed; the
        local mode when it runs over local DynamoDB), else every agent id is an agent on the tenant's defaults."""
        from oratio.agent_definitions.source import CachedDefinitionSource, TenantDefaultSource

        if not (self.agents_table and self.agent_definitions_table):
            return TenantDefaultSource()
        from oratio.agent_definitions.dynamodb import DynamoDBDefinitionReader

        reader = DynamoDBDefinitionReader(self.agents_table, self.agent_definitions_table)
        return CachedDefinitionSource(reader, SourceSettings(recheck_seconds=self.definition_recheck_seconds))

    def tenant(self) -> TenantConfig:
        """The tenant this runtime serves: the JSON the stack embedded, else `<tenants_dir>/<id>.yaml`."""
        if self.tenant_config_json is not None:
            try:
                return TenantConfig.model_validate_json(self.tenant_config_json)
            except ValidationError as e:
                raise WiringError(f"{ENV_TENANT_CONFIG_JSON} is not a valid tenant config: {e}") from e
        return load_tenant_file(self.tenants_dir / f"{self.tenant_id}.yaml")


def split_tenant_config(tenant: TenantConfig) -> dict[str, str]:
    """The tenant as environment variables of at most `ENV_VALUE_MAX_CHARS` each (ASCII JSON, so characters
    and bytes agree); `join_tenant_config` puts it back together."""
    text = json.dumps(tenant.model_dump(mode="json", exclude_defaults=True), ensure_ascii=True, separators=(",", ":"))
    parts = [text[i : i + ENV_VALUE_MAX_CHARS] for i in range(0, len(text), ENV_VALUE_MAX_CHARS)]
    if len(parts) > MAX_TENANT_CONFIG_PARTS:
        raise ValueError(
            f"tenant {tenant.tenant_id!r}: its configuration is {len(text)} characters as JSON, more than "
            f"{MAX_TENANT_CONFIG_PARTS * ENV_VALUE_MAX_CHARS} fit in the runtime's environment; shorten its "
            "descriptions or business tool schemas"
        )
    return {f"{ENV_TENANT_CONFIG_PART}{index}": part for index, part in enumerate(parts)}


def join_tenant_config(environ: Mapping[str, str]) -> str:
    parts: list[str] = []
    while (part := environ.get(f"{ENV_TENANT_CONFIG_PART}{len(parts)}")) is not None:
        parts.append(part)
    return "".join(parts)


class ServerSettings(BaseModel):
    """Where `python -m agentcore.tenant_agent` listens: 127.0.0.1 unless the deployment says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = LOCAL_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65_535)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        environ = os.environ if environ is None else environ
        values = {name: environ[var] for name, var in (("host", ENV_HOST), ("port", ENV_PORT)) if environ.get(var)}
        return cls.model_validate(values)


def build_engine(settings: RuntimeSettings | None = None) -> TurnEngine:
    """The tenant's `TurnEngine`, from `settings` or the process environment."""
    settings = settings or RuntimeSettings.from_environ()
    tenant = settings.tenant()
    parts = local_parts(settings, tenant) if settings.local_mode else _aws_parts(settings, tenant)
    return assemble_engine(parts)


def _aws_parts(settings: RuntimeSettings, tenant: TenantConfig) -> EngineParts:
    from oratio.adapters.agentcore_memory import AgentCoreSessionMemory
    from oratio.adapters.bedrock_model import BedrockConverseModel
    from oratio.adapters.dynamodb_agent import (
        DynamoDBBudgetLedger,
        DynamoDBConversationRecorder,
        DynamoDBCustomerContextStore,
        DynamoDBWorkflowStateStore,
    )
    from oratio.adapters.knowledge import (
        BedrockKnowledgeBaseRetriever,
        EmbeddingRetriever,
        S3VectorsIndex,
        TitanEmbedder,
    )
    from oratio.agent.workflow import RoleWorkflow

    conversations, contexts, usage = settings.conversations_table, settings.customer_context_table, settings.usage_table
    if not (conversations and contexts and usage and settings.memory_id):
        raise WiringError("deployed mode needs the agent's tables and memory id")  # `_complete` checked them
    retriever: KnowledgeRetriever
    if settings.vector_bucket and settings.vector_index:
        # Embedding + S3 Vectors query is one hop fewer than the knowledge base's Retrieve API.
        retriever = EmbeddingRetriever(
            TitanEmbedder.from_settings(tenant.knowledge, region_name=settings.region),
            S3VectorsIndex(settings.vector_bucket, settings.vector_index, region_name=settings.region),
        )
    else:
        retriever = BedrockKnowledgeBaseRetriever(str(settings.knowledge_base_id), region_name=settings.region)
    return EngineParts(
        tenant=tenant,
        model=BedrockConverseModel(),
        tools=tool_factory(retriever),
        memory=AgentCoreSessionMemory(settings.memory_id),
        contexts=DynamoDBCustomerContextStore(contexts),
        recorder=redacting(DynamoDBConversationRecorder(conversations), tenant, settings.raw_text_key),
        budget=DynamoDBBudgetLedger(usage, conversations_table=conversations),
        workflow=RoleWorkflow.from_definition,
        workflow_states=DynamoDBWorkflowStateStore(conversations),
        definitions=settings.definitions(),
    )


def local_parts(settings: RuntimeSettings, tenant: TenantConfig) -> EngineParts:
    """The local stand-ins: the rule-based model, the lexical retriever over the tenant's files, memory stores."""
    from oratio.adapters.memory_agent import (
        InMemoryBudgetLedger,
        InMemoryConversationRecorder,
        InMemoryCustomerContextStore,
        InMemorySessionMemory,
        InMemoryWorkflowStateStore,
    )
    from oratio.agent.workflow import RoleWorkflow
    from oratio_local.knowledge import LexicalRetriever
    from oratio_local.rule_model import RuleBasedModel

    retriever = LexicalRetriever.from_tenant(tenant, settings.tenants_dir)
    return EngineParts(
        tenant=tenant,
        model=RuleBasedModel(),
        tools=tool_factory(retriever),
        memory=InMemorySessionMemory(),
        contexts=InMemoryCustomerContextStore(),
        recorder=redacting(InMemoryConversationRecorder(), tenant, None),
        budget=InMemoryBudgetLedger(),
        workflow=RoleWorkflow.from_definition,
        workflow_states=InMemoryWorkflowStateStore(),
        definitions=settings.definitions(),
    )
