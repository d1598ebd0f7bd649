"""Integration fixtures: moto-backed DynamoDB tables built from `oratio.tables`, and handler loading.

Nothing here reaches AWS: credentials are fake, and moto intercepts every call made under `mock_aws`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oratio.adapters.dynamodb import _serialize, agent_to_item
from oratio.agent_definitions.dynamodb import version_to_item
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.domain.agents import Agent, AgentStatus
from oratio.tables import AGENT_DEFINITIONS, AGENTS, TableSpec
from oratio_local.dynamodb import create_tables
from oratio_local.dynamodb import table_name as local_table_name
from oratio_local.lambdas import load_handler

__all__ = ["create_tables", "load_handler", "seed_agent", "table_name"]

REGION = "us-east-1"
TABLE_PREFIX = "oratio-test-"


def table_name(spec: TableSpec) -> str:
    """The name a table gets in the integration tests."""
    return local_table_name(spec, TABLE_PREFIX)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region, so nothing can reach a real account."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OratioTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "oratio-test")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture
def dynamodb(aws_env: None) -> Iterator[Any]:
    """A moto DynamoDB client with every Oratio table created."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client, prefix=TABLE_PREFIX)
        yield client


def seed_agent(
    client: Any,
    tenant_id: str,
    agent_id: str,
    *,
    status: AgentStatus = AgentStatus.ACTIVE,
    spec: AgentSpec | None = None,
    prefix: str = TABLE_PREFIX,
) -> None:
    """An agent as the vendor API leaves it in the tables: its item (status, live version) and its live version."""
    at = datetime(2026, 11, 30, tzinfo=UTC)
    agent = Agent(vendor_id=tenant_id, agent_id=agent_id, name=agent_id, status=status, created_at=at, updated_at=at)
    item = agent_to_item(agent)
    if spec is not None:
        item["live_version"] = 1
        version = DefinitionVersion(
            vendor_id=tenant_id, agent_id=agent_id, version=1, spec=spec, author="test", note="seeded", created_at=at
        )
        client.put_item(
            TableName=local_table_name(AGENT_DEFINITIONS, prefix), Item=_serialize(version_to_item(version))
        )
    client.put_item(TableName=local_table_name(AGENTS, prefix), Item=_serialize(item))
