"""Every Lambda handler, as Lambda imports it, answers every malformed event with its designed error (see
tests/handler_fuzz.py for what "designed" means per handler and how the events are derived)."""

from __future__ import annotations

import pytest

from tests.handler_fuzz import TARGETS, fuzz

MIN_MALFORMED_INPUTS = 40
# S3Model validates `sourceIPAddress` as an address: a boolean there makes ipaddress warn before pydantic refuses it.
pytestmark = pytest.mark.filterwarnings("ignore:__int__ returned non-int:DeprecationWarning")


@pytest.mark.parametrize("handler", sorted(TARGETS))
def test_no_malformed_event_gets_an_undesigned_answer(handler: str) -> None:
    report = fuzz(TARGETS[handler])
    assert report.inputs >= MIN_MALFORMED_INPUTS
    assert report.undesigned == [], f"{len(report.undesigned)} undesigned answers, e.g. {report.undesigned[:5]}"


def test_every_handler_is_fuzzed() -> None:
    from tests.integration.test_handler_logging import HANDLERS

    assert sorted(TARGETS) == HANDLERS
