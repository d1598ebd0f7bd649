"""The operator's command for the platform's number registry: which tenant owns which phone number.

    .venv/bin/python scripts/phone_numbers.py register <tenant_id> <+E164> [--kind bridge|connect] [--operator NAME]
    .venv/bin/python scripts/phone_numbers.py release  <tenant_id> <+E164>
    .venv/bin/python scripts/phone_numbers.py list     <tenant_id>

A tenant's agents may answer only numbers registered to the tenant. Tenant stacks register their Connect number
and the tenant file's `voice.bridge_numbers` at deploy; this command registers a Twilio/Vonage number for a tenant
without a redeploy (or releases one). It uses the AWS credentials and region of the shell and finds the registry
table by the name the platform stack publishes (`/oratio/platform/tables/numbers/name`), unless `--table` names it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

if __name__ == "__main__":  # run as a script: the repository root holds the oratio package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import ValidationError

from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
from oratio.domain.numbers import NumberKind, NumberOwnedElsewhere, NumberRegistry, operator_claim
from oratio.tables import NUMBERS

REGISTRY_PARAMETER = f"/oratio/platform/tables/{NUMBERS.key}/name"


def default_registry(table: str | None) -> NumberRegistry:
    return DynamoDBNumberRegistry(table) if table else DynamoDBNumberRegistry.published(REGISTRY_PARAMETER)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/phone_numbers.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", help=f"registry table name (default: the SSM parameter {REGISTRY_PARAMETER})")
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", help="register a number to a tenant")
    register.add_argument("tenant_id")
    register.add_argument("number", help="E.164, e.g. +15559870000")
    register.add_argument("--kind", choices=[k.value for k in NumberKind], default=NumberKind.BRIDGE.value)
    register.add_argument("--operator", default=getpass.getuser(), help="recorded as who claimed it")
    release = commands.add_parser("release", help="give a tenant's number up")
    release.add_argument("tenant_id")
    release.add_argument("number")
    listing = commands.add_parser("list", help="a tenant's numbers")
    listing.add_argument("tenant_id")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    registry_for: Callable[[str | None], NumberRegistry] = default_registry,
    out: TextIO = sys.stdout,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Run one command; 0 when done, 1 when the registry refused it, 2 for bad arguments."""
    args = _parser().parse_args(argv)
    registry = registry_for(args.table)
    if args.command == "list":
        for claim in registry.numbers_of(args.tenant_id):
            print(f"{claim.number}\t{claim.kind.value}\t{claim.claimed_by}", file=out)
        return 0
    if args.command == "release":
        if registry.release(args.tenant_id, args.number):
            print(f"released {args.number} from {args.tenant_id}", file=out)
            return 0
        print(f"error: {args.number} is not registered to {args.tenant_id}; nothing released", file=out)
        return 1
    try:
        claim = operator_claim(args.number, args.tenant_id, NumberKind(args.kind), operator=args.operator, at=now())
    except ValidationError as e:
        fields = ", ".join(str(err["loc"][0]) for err in e.errors())
        print(f"error: not a valid registration ({fields}): use a tenant id and an E.164 number", file=out)
        return 2
    try:
        registry.claim(claim)
    except NumberOwnedElsewhere:
        print(
            f"error: {args.number} is registered to another tenant; release it there first "
            f"(scripts/phone_numbers.py release <tenant> {args.number})",
            file=out,
        )
        return 1
    print(f"registered {args.number} ({args.kind}) to {args.tenant_id}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
