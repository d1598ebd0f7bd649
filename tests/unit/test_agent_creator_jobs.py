"""SOP intake and the job store contract: bad SOPs get a status and a message that says what to fix."""

from __future__ import annotations

import pytest

from oratio.agent_creator.jobs import (
    MAX_SOP_BYTES,
    InMemoryJobStore,
    JobNotFoundError,
    JobStatus,
    SopRejectedError,
    decode_sop,
    sop_sha256,
    submit_sop,
)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"  \n\t\n", 400, "empty"),
        (b"x" * (MAX_SOP_BYTES + 1), 413, "256 KiB"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", 400, "binary"),
        ("Café".encode("latin-1"), 400, "UTF-8"),
        (b"# SOP\n\x07 bell", 400, "control character"),
    ],
)
def test_an_unusable_sop_is_refused_with_its_status_and_what_to_fix(body: bytes, status: int, words: str) -> None:
    with pytest.raises(SopRejectedError, match=words) as refused:
        decode_sop(body)
    assert refused.value.status == status


def test_an_sop_at_the_size_limit_with_a_bom_is_accepted_as_its_text() -> None:
    body = "\ufeff# SOP\n".encode() + b"x" * (MAX_SOP_BYTES - 9)
    assert len(body) == MAX_SOP_BYTES
    assert decode_sop(body).startswith("# SOP")


def test_submitting_an_sop_keeps_its_text_and_hash_and_queues_a_job_scoped_to_the_tenant() -> None:
    store = InMemoryJobStore()
    job = submit_sop(store, tenant_id="cozy-comfort", agent_id="front-desk", body=b"# SOP\n- Say hello\n")
    assert job.status is JobStatus.QUEUED
    assert job.sop_sha256 == sop_sha256("# SOP\n- Say hello\n")
    assert store.get_output(job.sop_key) == b"# SOP\n- Say hello\n"
    assert job.sop_key.startswith(f"agent-creator/cozy-comfort/front-desk/{job.job_id}/")
    with pytest.raises(JobNotFoundError):
        store.get_job("bright-smile-dental", job.job_id)  # another tenant never sees it


def test_a_versions_agent_creator_provenance_survives_the_definitions_table_round_trip() -> None:
    from datetime import UTC, datetime

    from oratio.agent_definitions.dynamodb import version_from_item, version_to_item
    from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
    from oratio.agent_definitions.versions import CreatorProvenance, DefinitionVersion, VersionSource

    version = DefinitionVersion(
        vendor_id="cozy-comfort", agent_id="front-desk", version=3, author="agent-creator:job-12345678",
        note="AgentCreator job job-12345678", source=VersionSource.AGENT_CREATOR, created_at=datetime.now(UTC),
        spec=AgentSpec(name="A", business_type="retail", character_config=CharacterConfig(business_name="B")),
        provenance=CreatorProvenance(job_id="job-12345678", sop_sha256="a" * 64, model_ids=("claude-sonnet-4-5",),
                                     verdicts=("cycle 1: approve (0 change(s) asked)",)),
    )  # fmt: skip
    assert version_from_item(version_to_item(version)) == version
