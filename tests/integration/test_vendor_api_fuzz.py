"""Property-based fuzzing of the vendor API (schemathesis) from the committed OpenAPI document, through an
in-process WSGI adapter in front of the real handler over moto: no input may produce a server error, and every
response must be documented and match its schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from moto import mock_aws
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from oratio.adapters.memory import FixedClock
from oratio.tables import ALL_TABLES
from oratio.vendor.settings import IDEMPOTENCY_TABLE_ENV_VAR, RATE_LIMIT_ENV_VAR
from oratio_local.dynamodb import create_tables
from oratio_local.lambdas import load_handler
from oratio_local.openapi import OPENAPI_PATH
from tests.vendor_api_harness import IDEMPOTENCY_TABLE, REGION, START, TOKENS, VendorApi, deploy_vendors, wsgi_app

schema = schemathesis.openapi.from_path(OPENAPI_PATH)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def api_app() -> Iterator[Any]:
    """One deployment for the whole run (state accumulates, as on a real API)."""
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_TRACE_DISABLED": "true",
            IDEMPOTENCY_TABLE_ENV_VAR: IDEMPOTENCY_TABLE,
            RATE_LIMIT_ENV_VAR: "1000000",
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        names = create_tables(dynamodb, prefix="oratio-fuzz-")
        dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for spec in ALL_TABLES:
            env.setenv(spec.env_var, names[spec.key])
        deploy_vendors(boto3.client("ssm", region_name=REGION), boto3.client("s3", region_name=REGION))
        handler = load_handler("vendor_api")
        handler.clock = FixedClock(START)
        yield wsgi_app(VendorApi(handler, handler.clock))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_produces_a_server_error_or_an_undocumented_response(case: Any, api_app: Any) -> None:
    case.call_and_validate(app=api_app, headers={"Authorization": next(iter(TOKENS))}, checks=CHECKS)
