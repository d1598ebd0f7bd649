"""`make fuzz`: the figures of issue 15's "no input can crash a handler" and "no tenant can reach another".

Per Lambda handler (as Lambda imports it, over moto): how many malformed events it was sent, how many it answered
as designed (of which how many with the named error class the handler documents raising, e.g. an SQS batch
failure or an invalid-event error Lambda retries and dead-letters), and how many got an undesigned answer (an
exception it does not document, a 5xx, an answer Lambda cannot serialise) -- see tests/handler_fuzz.py.

Then the vendor API's cross-tenant probe: how many attempts vendor B made at vendor A's agents, jobs, documents,
conversations, numbers and idempotency records, and how many leaked -- see tests/cross_tenant.py.

Counts, not timings. Exits 1 when anything is undesigned or leaked.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys

import pytest

from tests.cross_tenant import probe
from tests.handler_fuzz import TARGETS, fuzz
from tests.vendor_api_harness import deployed_api

FAKE_AWS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "OratioFuzz",
}


def cross_tenant() -> tuple[int, list[str]]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAKE_AWS.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        logging.disable(logging.CRITICAL)
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                deployed_api(env, prefix="oratio-probe-", rate_limit=10**6) as api,
            ):
                report = probe(api)
        finally:
            logging.disable(logging.NOTSET)
    return report.attempts, report.leaks


def main() -> int:
    print(f"{'handler':<22}{'malformed inputs':>18}{'designed answers':>18}{'(named errors)':>16}{'undesigned':>12}")
    failed = False
    for name in sorted(TARGETS):
        report = fuzz(TARGETS[name])
        designed = report.inputs - len(report.undesigned)
        print(f"{name:<22}{report.inputs:>18}{designed:>18}{report.designed_errors:>16}{len(report.undesigned):>12}")
        for label, problem in report.undesigned[:5]:
            print(f"    {label}: {problem}")
        failed = failed or bool(report.undesigned)
    attempts, leaks = cross_tenant()
    print(f"\ncross-tenant attempts (vendor API, vendor B at vendor A): {attempts}, leaks: {len(leaks)}")
    for leak in leaks:
        print(f"    {leak}")
    return 1 if failed or leaks else 0


if __name__ == "__main__":
    sys.exit(main())
