"""Integration fixtures: moto-backed DynamoDB tables built from `oratio.tables`, and handler loading.

Nothing here reaches AWS: credentials are fake, and moto intercepts every call made under `mock_aws`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oratio.tables import TableSpec
from oratio_local.dynamodb import create_tables
from oratio_local.dynamodb import table_name as local_table_name
from oratio_local.lambdas import load_handler

__all__ = ["create_tables", "load_handler", "table_name"]

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
