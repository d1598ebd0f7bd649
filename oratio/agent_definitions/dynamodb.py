"""DynamoDB adapters of the definition ports (tables and access patterns in `oratio.tables`).

agent_definitions  pk = "<vendor_id>#<agent_id>", sk = "V#<version:06d>"; the spec as a JSON string attribute.
agents             read only here: `status` and `live_version` of the agent's item (projected, consistent).

A definition fits a DynamoDB item comfortably: vendor API bodies are capped at 64 KiB (`max_body_bytes`), so a
spec is at most that, far below the 400 KB item limit; S3 would add a second read per version for nothing.
Versions are written by the vendor API inside the agent's own update transaction (`version_put`), conditioned
on the key being unused, so a version number is never overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from oratio.adapters.dynamodb import CorruptItemError, _deserialize, _DynamoDBAdapter, _serialize
from oratio.adapters.dynamodb_agent import _AsyncDynamoDBAdapter
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import AgentPointer, CreatorProvenance, DefinitionVersion
from oratio.domain.agents import AgentStatus

VERSION_SK_PREFIX = "V#"
# DynamoDB's item limit is 400 KB; keys and metadata take a little of it.
MAX_SPEC_BYTES = 350_000


def definition_pk(vendor_id: str, agent_id: str) -> str:
    return f"{vendor_id}#{agent_id}"


def version_sk(version: int) -> str:
    return f"{VERSION_SK_PREFIX}{version:06d}"


def version_to_item(version: DefinitionVersion) -> dict[str, Any]:
    spec = version.spec.model_dump_json(exclude_unset=True)
    if len(spec.encode()) > MAX_SPEC_BYTES:
        raise ValueError(f"the definition is {len(spec.encode())} bytes as JSON; at most {MAX_SPEC_BYTES} fit")
    item: dict[str, Any] = {
        "pk": definition_pk(version.vendor_id, version.agent_id),
        "sk": version_sk(version.version),
        "vendor_id": version.vendor_id,
        "agent_id": version.agent_id,
        "version": version.version,
        "spec": spec,
        "author": version.author,
        "note": version.note,
        "source": version.source.value,
        "created_at": version.created_at.isoformat(),
    }
    if version.provenance is not None:
        item["provenance"] = version.provenance.model_dump_json()
    return item


def version_from_item(item: Mapping[str, Any]) -> DefinitionVersion:
    try:
        return DefinitionVersion(
            vendor_id=item["vendor_id"],
            agent_id=item["agent_id"],
            version=int(item["version"]),
            spec=AgentSpec.model_validate_json(item["spec"]),
            author=item["author"],
            note=item["note"],
            source=item["source"],
            created_at=item["created_at"],
            provenance=CreatorProvenance.model_validate_json(item["provenance"]) if "provenance" in item else None,
        )
    except (KeyError, ValueError, ValidationError) as e:
        raise CorruptItemError(f"definition version {item.get('pk')}/{item.get('sk')} is invalid") from e


def version_put(table: str, version: DefinitionVersion) -> dict[str, Any]:
    """The transaction action that stores a new version (refused if that number exists)."""
    return {
        "Put": {
            "TableName": table,
            "Item": _serialize(version_to_item(version)),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


class DynamoDBDefinitionVersions(_DynamoDBAdapter):
    """An agent's versions as the vendor API reads them."""

    def __init__(self, definitions_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = definitions_table

    def get(self, vendor_id: str, agent_id: str, version: int) -> DefinitionVersion | None:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": definition_pk(vendor_id, agent_id)}, "sk": {"S": version_sk(version)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return version_from_item(_deserialize(item)) if item else None

    def list(self, vendor_id: str, agent_id: str) -> list[DefinitionVersion]:
        """Every version of the agent, newest first."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :v)",
            "ExpressionAttributeValues": {
                ":pk": {"S": definition_pk(vendor_id, agent_id)},
                ":v": {"S": VERSION_SK_PREFIX},
            },
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        versions: list[DefinitionVersion] = []
        while True:
            response = self._call("query", self._table, **request)
            versions.extend(version_from_item(_deserialize(i)) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return versions
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}


class DynamoDBDefinitionReader(_AsyncDynamoDBAdapter):
    """`DefinitionReader` for the runtimes: the agent's pointer from the agents table, versions from theirs."""

    def __init__(self, agents_table: str, definitions_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._agents = agents_table
        self._definitions = definitions_table

    async def pointer(self, tenant_id: str, agent_id: str) -> AgentPointer | None:
        response = await self._acall(
            "get_item",
            self._agents,
            TableName=self._agents,
            Key={"pk": {"S": tenant_id}, "sk": {"S": agent_id}},
            ConsistentRead=True,
            ProjectionExpression="#status, live_version",
            ExpressionAttributeNames={"#status": "status"},
        )
        item = response.get("Item")
        if not item:
            return None
        values = _deserialize(item)
        try:
            live = values.get("live_version")
            return AgentPointer(
                tenant_id=tenant_id,
                agent_id=agent_id,
                status=AgentStatus(values["status"]),
                live_version=int(live) if live is not None else None,
            )
        except (KeyError, ValueError) as e:
            raise CorruptItemError(f"agent item {tenant_id}/{agent_id} has no valid status") from e

    async def version(self, tenant_id: str, agent_id: str, version: int) -> DefinitionVersion | None:
        response = await self._acall(
            "get_item",
            self._definitions,
            TableName=self._definitions,
            Key={"pk": {"S": definition_pk(tenant_id, agent_id)}, "sk": {"S": version_sk(version)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return version_from_item(_deserialize(item)) if item else None
