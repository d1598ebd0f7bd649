"""DynamoDB adapters of the vendor API's ports (tables and access patterns in `oratio.tables`).

agents               pk = vendor_id, sk = agent_id: the call paths' `Agent` attributes plus the vendor's settings
                     (channels, character, context); `expires_at` is set when an agent is deleted (TTL purge).
tenant_state         pk = vendor_id: sk "agents#count" (agent slots), "number#<e164>" (which agent a number
                     answers), "rate#<epoch minute>" (request counter, TTL).
provisioning_jobs    pk = vendor_id, sk = provisioning_id.
knowledge_documents  pk = "<vendor_id>#<agent_id>", sk = document_id.
conversations        read only: SESSION items through GSI by_agent, TURN# items of one session.

Every key is built from the caller's vendor id, so no method can reach another vendor's items.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from oratio.adapters.dynamodb import (
    CONDITION_FAILED,
    SESSION_SK,
    CorruptItemError,
    _cancellation_codes,
    _deserialize,
    _DynamoDBAdapter,
    _serialize,
    _translate,
    agent_to_item,
    session_from_item,
)
from oratio.adapters.dynamodb_agent import TURN_SK_PREFIX, from_dynamo, record_from_item, to_dynamo, turn_from_item
from oratio.agent.ports import TurnRecord
from oratio.agent_definitions.dynamodb import version_put
from oratio.agent_definitions.model import AgentOverrides
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.domain.calls import CallSession
from oratio.vendors.character import derive_character
from oratio.vendors.errors import QuotaExceeded, RateLimited, VendorApiError, VersionConflict
from oratio.vendors.models import AgentContext, CharacterConfig
from oratio.vendors.ports import AgentRecord, KnowledgeDocument, NumberTaken, ProvisioningJob

AGENT_COUNT_SK = "agents#count"
NUMBER_SK_PREFIX = "number#"
RATE_SK_PREFIX = "rate#"
BY_AGENT_INDEX = "by_agent"
JOB_RETENTION_DAYS = 90
_VENDOR_FIELDS = ("description", "business_type", "channels", "character_config", "context", "character")
# Written by the vendor API since definitions are versioned; older items lack them (neutral defaults apply).
_DEFINITION_FIELDS = ("latest_version", "live_version", "published_at", "published_by")
# The agent's settings are kept as a JSON string, like a version's spec: any number pydantic accepts fits (a DynamoDB
# number attribute does not take, say, 5e-324), and the fields that were set stay exactly as sent.
DEFINITION_ATTRIBUTE = "definition"


class InvalidPageToken(VendorApiError):
    """A `next_token` that this API did not hand out for this listing."""

    code = "invalid_page_token"

    def __init__(self) -> None:
        super().__init__("next_token is not a token this listing handed out; start again without it")


def _cancellation_items(error: ClientError) -> list[dict[str, Any] | None]:
    return [_deserialize(r["Item"]) if r.get("Item") else None for r in error.response.get("CancellationReasons", [])]


def _query_all(adapter: _DynamoDBAdapter, table: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item a query matches, page after page, deserialized."""
    items: list[dict[str, Any]] = []
    while True:
        response = adapter._call("query", table, **request)
        items.extend(_deserialize(i) for i in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}


# ------------------------------------------------------------------------------------------ agents
def agent_record_to_item(record: AgentRecord, *, expires_at: datetime | None = None) -> dict[str, Any]:
    """The agents-table item: the call paths' attributes (`agent_to_item`) plus the vendor's settings."""
    data = record.model_dump(mode="json")
    return {
        **agent_to_item(record.as_agent()),
        **{name: to_dynamo(data[name]) for name in (*_VENDOR_FIELDS, *_DEFINITION_FIELDS)},
        DEFINITION_ATTRIBUTE: record.definition.model_dump_json(exclude_unset=True),
        "deleted_at": data["deleted_at"],
        "last_provisioning_id": record.last_provisioning_id,
        "bridge_number": record.bridge_number,
        "expires_at": int(expires_at.timestamp()) if expires_at else None,
    }


def agent_record_from_item(item: Mapping[str, Any]) -> AgentRecord:
    """Read an agent item. Items written by other paths (the demo's seed, old rows) lack the vendor settings;
    they get neutral ones so the vendor can still see and manage the agent."""
    fields = {
        name: from_dynamo(item[name])
        for name in AgentRecord.model_fields
        if name in item and name != DEFINITION_ATTRIBUTE
    }
    if isinstance(item.get(DEFINITION_ATTRIBUTE), str):
        fields[DEFINITION_ATTRIBUTE] = AgentOverrides.model_validate_json(item[DEFINITION_ATTRIBUTE])
    if not all(name in fields for name in _VENDOR_FIELDS):
        name = str(item.get("name", item.get("agent_id", "agent")))
        config = CharacterConfig(business_name=name)
        fields = {
            "description": "",
            "business_type": "unspecified",
            "channels": [],
            "character_config": config,
            "context": AgentContext(),
            "character": derive_character(name, "unspecified", config, AgentContext()),
            **fields,
        }
    try:
        return AgentRecord.model_validate(fields)
    except ValidationError as e:
        raise CorruptItemError(f"agent item {item.get('pk')}/{item.get('sk')} is invalid") from e


class DynamoDBAgentRepository(_DynamoDBAdapter):
    """`AgentRepository` over the agents table, with agent slots and number locks in tenant_state."""

    def __init__(
        self,
        agents_table: str,
        tenant_state_table: str,
        definitions_table: str,
        *,
        deleted_retention_days: int,
        client: Any | None = None,
    ) -> None:
        super().__init__(client)
        self._agents = agents_table
        self._state = tenant_state_table
        self._definitions = definitions_table
        self._retention = timedelta(days=deleted_retention_days)

    def get(self, vendor_id: str, agent_id: str) -> AgentRecord | None:
        response = self._call(
            "get_item",
            self._agents,
            TableName=self._agents,
            Key={"pk": {"S": vendor_id}, "sk": {"S": agent_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return agent_record_from_item(_deserialize(item)) if item else None

    def list_all(self, vendor_id: str) -> list[AgentRecord]:
        request: dict[str, Any] = {
            "TableName": self._agents,
            "KeyConditionExpression": "pk = :vendor",
            "ExpressionAttributeValues": {":vendor": {"S": vendor_id}},
            "ConsistentRead": True,
        }
        return [agent_record_from_item(i) for i in _query_all(self, self._agents, request)]

    def create(self, record: AgentRecord, *, max_agents: int, first_version: DefinitionVersion) -> None:
        actions = [
            {
                "Put": {
                    "TableName": self._agents,
                    "Item": _serialize(agent_record_to_item(record)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._state,
                    "Key": {"pk": {"S": record.vendor_id}, "sk": {"S": AGENT_COUNT_SK}},
                    "UpdateExpression": "ADD #n :one",
                    "ConditionExpression": "attribute_not_exists(#n) OR #n < :max",
                    "ExpressionAttributeNames": {"#n": "count"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": str(max_agents)}},
                }
            },
            version_put(self._definitions, first_version),
        ]
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as e:
            codes = _cancellation_codes(e)
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise QuotaExceeded(
                    "max_agents",
                    max_agents,
                    f"this vendor already has {max_agents} agents, the most its plan allows (limits.max_agents); "
                    "delete an agent first or raise the limit",
                ) from e
            raise _translate(e, "transact_write_items", self._agents) from e
        except BotoCoreError as e:
            raise _translate(e, "transact_write_items", self._agents) from e

    def update(
        self,
        record: AgentRecord,
        *,
        expected_version: int,
        claim_number: str | None = None,
        release_number: str | None = None,
        release_slot: bool = False,
        new_version: DefinitionVersion | None = None,
    ) -> None:
        expires = record.deleted_at + self._retention if record.deleted_at else None
        vendor = {"S": record.vendor_id}
        me = {":me": {"S": record.agent_id}}
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._agents,
                    "Item": _serialize(agent_record_to_item(record, expires_at=expires)),
                    "ConditionExpression": "#v = :expected",
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        claim_at = release_at = None
        if claim_number is not None:
            claim_at = len(actions)
            actions.append(
                {
                    "Put": {
                        "TableName": self._state,
                        "Item": {
                            "pk": vendor,
                            "sk": {"S": NUMBER_SK_PREFIX + claim_number},
                            "agent_id": {"S": record.agent_id},
                        },
                        "ConditionExpression": "attribute_not_exists(pk) OR agent_id = :me",
                        "ExpressionAttributeValues": me,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        if release_number is not None and release_number != claim_number:
            release_at = len(actions)
            actions.append(
                {
                    "Delete": {
                        "TableName": self._state,
                        "Key": {"pk": vendor, "sk": {"S": NUMBER_SK_PREFIX + release_number}},
                        # Never free a number another agent holds now.
                        "ConditionExpression": "attribute_not_exists(pk) OR agent_id = :me",
                        "ExpressionAttributeValues": me,
                    }
                }
            )
        if new_version is not None:
            # Conditioned on the number being unused: a version is never overwritten.
            actions.append(version_put(self._definitions, new_version))
        if release_slot:
            actions.append(
                {
                    "Update": {
                        "TableName": self._state,
                        "Key": {"pk": vendor, "sk": {"S": AGENT_COUNT_SK}},
                        "UpdateExpression": "SET #n = if_not_exists(#n, :one) - :one",
                        "ConditionExpression": "attribute_not_exists(#n) OR #n > :zero",
                        "ExpressionAttributeNames": {"#n": "count"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}},
                    }
                }
            )
        try:
            if len(actions) == 1:
                put = actions[0]["Put"]
                self._client.put_item(**put)
            else:
                self._client.transact_write_items(TransactItems=actions)
        except ClientError as e:
            if self._released_elsewhere(e, release_at):
                # Another agent holds that number now, so this one's claim was already gone: just skip it.
                self.update(
                    record,
                    expected_version=expected_version,
                    claim_number=claim_number,
                    release_slot=release_slot,
                    new_version=new_version,
                )
                return
            self._raise_update_error(e, expected_version, claim_number, claim_at)
        except BotoCoreError as e:
            raise _translate(e, "transact_write_items", self._agents) from e

    @staticmethod
    def _released_elsewhere(error: ClientError, release_at: int | None) -> bool:
        codes = _cancellation_codes(error)
        return (
            release_at is not None
            and len(codes) > release_at
            and codes[release_at] == "ConditionalCheckFailed"
            and all(c == "None" for i, c in enumerate(codes) if i != release_at)
        )

    def _raise_update_error(
        self, error: ClientError, expected_version: int, claim_number: str | None, claim_at: int | None
    ) -> None:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == CONDITION_FAILED:  # the single put
            stored = error.response.get("Item")
            current = int(_deserialize(stored)["version"]) if stored else None
            raise VersionConflict(expected_version, current) from error
        codes = _cancellation_codes(error)
        if codes and codes[0] == "ConditionalCheckFailed":
            stored_item = _cancellation_items(error)[0]
            raise VersionConflict(expected_version, int(stored_item["version"]) if stored_item else None) from error
        if claim_at is not None and len(codes) > claim_at and codes[claim_at] == "ConditionalCheckFailed":
            holder = _cancellation_items(error)[claim_at]
            raise NumberTaken(claim_number or "", str(holder["agent_id"]) if holder else None) from error
        if "ConditionalCheckFailed" in codes:
            # The only other condition is the new version's number being unused: someone wrote it first.
            raise VersionConflict(expected_version, None) from error
        raise _translate(error, "transact_write_items", self._agents) from error


# --------------------------------------------------------------------------------------------- jobs
class DynamoDBProvisioningJobRepository(_DynamoDBAdapter):
    def __init__(self, jobs_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = jobs_table

    def put(self, job: ProvisioningJob) -> None:
        item = {
            "pk": job.vendor_id,
            "sk": job.provisioning_id,
            "job": to_dynamo(job.model_dump(mode="json")),
            "expires_at": int((job.created_at + timedelta(days=JOB_RETENTION_DAYS)).timestamp()),
        }
        self._call("put_item", self._table, TableName=self._table, Item=_serialize(item))

    def get(self, vendor_id: str, provisioning_id: str) -> ProvisioningJob | None:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": vendor_id}, "sk": {"S": provisioning_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        try:
            return ProvisioningJob.model_validate(from_dynamo(_deserialize(item)["job"]))
        except (ValidationError, KeyError) as e:
            raise CorruptItemError(f"provisioning job {vendor_id}/{provisioning_id} is invalid") from e


# ---------------------------------------------------------------------------------------- documents
def document_pk(vendor_id: str, agent_id: str) -> str:
    return f"{vendor_id}#{agent_id}"


class DynamoDBDocumentRepository(_DynamoDBAdapter):
    def __init__(self, documents_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = documents_table

    def create(self, document: KnowledgeDocument) -> None:
        item = {
            "pk": document_pk(document.vendor_id, document.agent_id),
            "sk": document.document_id,
            **to_dynamo(document.model_dump(mode="json")),
        }
        # Create only: once stored, the ingestion Lambda owns the document's status.
        self._call(
            "put_item",
            self._table,
            TableName=self._table,
            Item=_serialize(item),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, vendor_id: str, agent_id: str, document_id: str) -> KnowledgeDocument | None:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": document_pk(vendor_id, agent_id)}, "sk": {"S": document_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _document_from_item(_deserialize(item)) if item else None

    def list_for_agent(self, vendor_id: str, agent_id: str) -> list[KnowledgeDocument]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": document_pk(vendor_id, agent_id)}},
        }
        return [_document_from_item(i) for i in _query_all(self, self._table, request)]


def _document_from_item(item: Mapping[str, Any]) -> KnowledgeDocument:
    return record_from_item(KnowledgeDocument, item, "document")


# ------------------------------------------------------------------------------------ conversations
class DynamoDBConversationReader(_DynamoDBAdapter):
    """Reads call sessions and their turns; page tokens are checked to belong to the asked listing."""

    def __init__(self, conversations_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = conversations_table

    def list_for_agent(
        self, vendor_id: str, agent_id: str, limit: int, next_token: str | None
    ) -> tuple[list[CallSession], str | None]:
        agent_key = f"{vendor_id}#{agent_id}"
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_AGENT_INDEX,
            "KeyConditionExpression": "agent_key = :agent",
            "ExpressionAttributeValues": {":agent": {"S": agent_key}},
            "ScanIndexForward": False,  # newest first
            "Limit": limit,
        }
        if next_token is not None:
            request["ExclusiveStartKey"] = _decode_token(next_token, agent_key)
        response = self._call("query", self._table, **request)
        sessions = [session_from_item(_deserialize(i)) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return sessions, _encode_token(last) if last else None

    def get(self, vendor_id: str, conversation_id: str) -> CallSession | None:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": f"{vendor_id}#{conversation_id}"}, "sk": {"S": SESSION_SK}},
        )
        item = response.get("Item")
        return session_from_item(_deserialize(item)) if item else None

    def turns(self, vendor_id: str, conversation_id: str) -> list[TurnRecord]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :turn)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"{vendor_id}#{conversation_id}"},
                ":turn": {"S": TURN_SK_PREFIX},
            },
        }
        return [turn_from_item(i) for i in _query_all(self, self._table, request)]


def _encode_token(key: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def _decode_token(token: str, agent_key: str) -> dict[str, Any]:
    """The page key inside a token, only if it is a key of this agent's listing (so a token can never
    move a query into another vendor's items)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise InvalidPageToken() from e
    expected = {"agent_key", "started_at", "pk", "sk"}
    if (
        not isinstance(key, dict)
        or set(key) != expected
        or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
        or key["agent_key"]["S"] != agent_key
        or not key["pk"]["S"].startswith(agent_key.split("#", 1)[0] + "#")
    ):
        raise InvalidPageToken()
    return key


# --------------------------------------------------------------------------------------- rate limit
class DynamoDBRateLimiter(_DynamoDBAdapter):
    """A fixed one-minute window per vendor: one atomic, conditional counter item per minute (TTL-purged)."""

    def __init__(self, tenant_state_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = tenant_state_table

    def hit(self, vendor_id: str, at: datetime, limit_per_minute: int) -> None:
        minute = int(at.timestamp()) // 60
        admitted, _ = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": vendor_id}, "sk": {"S": f"{RATE_SK_PREFIX}{minute}"}},
            UpdateExpression="ADD #n :one SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
            ExpressionAttributeNames={"#n": "count"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit_per_minute)},
                ":expires": {"N": str((minute + 2) * 60)},
            },
        )
        if not admitted:
            raise RateLimited(limit_per_minute, retry_after_seconds(at))


def retry_after_seconds(at: datetime) -> int:
    """Whole seconds until the next one-minute window opens (at least 1)."""
    return max(1, 60 - int(at.timestamp()) % 60)


__all__ = [
    "AGENT_COUNT_SK",
    "DynamoDBAgentRepository",
    "DynamoDBConversationReader",
    "DynamoDBDocumentRepository",
    "DynamoDBProvisioningJobRepository",
    "DynamoDBRateLimiter",
    "InvalidPageToken",
    "agent_record_from_item",
    "agent_record_to_item",
    "document_pk",
    "retry_after_seconds",
]
