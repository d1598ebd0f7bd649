"""Property-based fuzzing of the vendor API (schemathesis) from the committed OpenAPI document, through an
in-process WSGI adapter in front of the real handler over moto: no input may produce a server error, and every
response must be documented and match its schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from oratio_local.openapi import OPENAPI_PATH
from tests.vendor_api_harness import REGION, TOKENS, deployed_api, wsgi_app

schema = schemathesis.openapi.from_path(OPENAPI_PATH)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Not `negative_data_rejection`: the run always sends a valid token (or nothing would reach the handler), so
# its "drop the Authorization header" mutations cannot apply, and unknown query parameters are ignored on
# purpose (only unknown body fields are errors). Bodies' strictness is tested in test_vendor_api.py.


@pytest.fixture(scope="module")
def api_app() -> Iterator[Any]:
    """One deployment for the whole run (state accumulates, as on a real API)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        with deployed_api(env, prefix="oratio-fuzz-", rate_limit=1_000_000) as api:
            yield wsgi_app(api)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_no_input_produces_a_server_error_or_an_undocumented_response(case: Any, api_app: Any) -> None:
    case.call_and_validate(app=api_app, headers={"Authorization": next(iter(TOKENS))}, checks=CHECKS)
