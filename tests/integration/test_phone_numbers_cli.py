"""The operator's `scripts/phone_numbers.py` against the number registry on moto DynamoDB."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
from oratio.tables import NUMBERS
from tests.integration.conftest import table_name

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "phone_numbers.py"


@pytest.fixture
def cli(dynamodb: Any) -> Any:
    spec = importlib.util.spec_from_file_location("phone_numbers_cli", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    registry = DynamoDBNumberRegistry(table_name(NUMBERS), client=dynamodb)

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = module.main(list(argv), registry_for=lambda table: registry, out=out)
        return code, out.getvalue()

    run.registry = registry  # type: ignore[attr-defined]
    return run


def test_the_operator_registers_a_bridge_number_for_a_tenant(cli: Any) -> None:
    assert cli("register", "cozy-comfort", "+15559870000", "--operator", "ops") == (
        0,
        "registered +15559870000 (bridge) to cozy-comfort\n",
    )
    assert cli.registry.owns("cozy-comfort", "+15559870000")
    assert cli("list", "cozy-comfort") == (0, "+15559870000\tbridge\toperator:ops\n")


def test_a_number_of_another_tenant_is_refused_and_stays_where_it_is(cli: Any) -> None:
    cli("register", "cozy-comfort", "+15559870000")
    code, out = cli("register", "sleepwell", "+15559870000")
    assert code == 1
    assert "registered to another tenant; release it there first" in out
    assert cli.registry.owns("cozy-comfort", "+15559870000")
    assert cli("release", "sleepwell", "+15559870000")[0] == 1
    assert cli("release", "cozy-comfort", "+15559870000") == (0, "released +15559870000 from cozy-comfort\n")
    assert cli("register", "sleepwell", "+15559870000")[0] == 0


@pytest.mark.parametrize(("tenant", "number"), [("cozy-comfort", "5559870000"), ("Not A Tenant", "+15559870000")])
def test_a_malformed_registration_is_refused_with_a_clear_message(cli: Any, tenant: str, number: str) -> None:
    code, out = cli("register", tenant, number)
    assert code == 2
    assert out.startswith("error: not a valid registration")
