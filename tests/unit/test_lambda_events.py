"""Helpers every scheduled or settings-reading handler shares: when a sweep runs another batch, and the table
names its settings read from the environment the stacks set."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from oratio.lambda_events import another_batch_fits
from oratio.tables import AGENTS, CONVERSATIONS, KNOWLEDGE_DOCUMENTS, table_settings


@dataclass
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.mark.parametrize(
    ("handled", "remaining_ms", "expected"),
    [
        (10, 60_000, True),  # a full batch and time left: more may wait
        (9, 60_000, False),  # a short batch: nothing more waits
        (10, 4_999, False),  # a full batch but under the reserve: the next run takes the rest
        (10, 5_000, True),  # exactly the reserve left is enough
    ],
)
def test_another_batch_runs_only_after_a_full_one_and_while_the_reserve_is_left(
    handled: int, remaining_ms: int, expected: bool
) -> None:
    fits = another_batch_fits(Context(remaining_ms), handled=handled, batch_size=10, reserve_ms=5_000)
    assert fits is expected


def test_table_settings_names_each_field_after_its_table_and_reads_the_stacks_env_var() -> None:
    env = {AGENTS.env_var: "agents-t", KNOWLEDGE_DOCUMENTS.env_var: "docs-t", "OTHER": "x"}
    assert table_settings(env, AGENTS, KNOWLEDGE_DOCUMENTS, CONVERSATIONS) == {
        "agents_table": "agents-t",
        "knowledge_documents_table": "docs-t",
        "conversations_table": None,  # unset: the settings model names the missing field
    }
