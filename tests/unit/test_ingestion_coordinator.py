"""The ingestion coordinator: uploads become serialized Bedrock ingestion jobs, job results become document
statuses, and nothing is started twice or forgotten (in-memory adapters, local stand-in for Bedrock's jobs)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oratio.adapters.memory import FixedClock
from oratio.adapters.memory_ingestion import LocalIngestionJobs, MemoryDocumentStatusStore, MemoryIngestionStateStore
from oratio.adapters.memory_vendor import MemoryDocumentRepository
from oratio.vendors.ingestion import (
    CoordinatorSettings,
    CurrentIngestion,
    DocumentIngestionState,
    DocumentOutcome,
    IngestionCoordinator,
    JobStatus,
    SkipReason,
    StartAction,
    TickAction,
    UploadedObject,
    parse_upload_key,
)
from oratio.vendors.models import DocumentStatus
from oratio.vendors.ports import KnowledgeDocument
from oratio.vendors.service import upload_key

TENANT = "cozy-comfort"
AGENT = "agt-front-desk"
T0 = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
DOCS = {"doc-a": "returns policy.pdf", "doc-b": "bedding.json", "doc-c": "faq.md"}


@dataclass
class World:
    repository: MemoryDocumentRepository
    state: MemoryIngestionStateStore
    jobs: LocalIngestionJobs
    clock: FixedClock
    coordinator: IngestionCoordinator

    def status(self, document_id: str) -> DocumentStatus:
        return self.document(document_id).status

    def document(self, document_id: str) -> KnowledgeDocument:
        document = self.repository.get(TENANT, AGENT, document_id)
        assert document is not None
        return document

    def coordinator_copy(self) -> IngestionCoordinator:
        """Another Lambda invocation over the same stores."""
        return IngestionCoordinator(
            tenant_id=TENANT,
            documents=self.coordinator.documents,
            state=self.state,
            jobs=self.jobs,
            clock=self.clock,
        )


def key(document_id: str) -> str:
    return upload_key(AGENT, document_id, DOCS[document_id])


def uploaded(document_id: str, *, size: int = 2048, sequencer: str = "0062E99A88DC407460") -> UploadedObject:
    return UploadedObject(key=key(document_id), size_bytes=size, sequencer=sequencer)


@pytest.fixture
def world() -> World:
    repository = MemoryDocumentRepository()
    for document_id, file_name in DOCS.items():
        repository.create(
            KnowledgeDocument(
                vendor_id=TENANT,
                agent_id=AGENT,
                document_id=document_id,
                file_name=file_name,
                content_type="application/pdf",
                size_bytes=1_000_000,  # what the vendor announced; the upload's real size replaces it
                s3_key=key(document_id),
                status=DocumentStatus.AWAITING_UPLOAD,
                created_at=T0 - timedelta(minutes=1),
                updated_at=T0 - timedelta(minutes=1),
            )
        )
    state = MemoryIngestionStateStore()
    jobs = LocalIngestionJobs()
    clock = FixedClock(T0)
    coordinator = IngestionCoordinator(
        tenant_id=TENANT, documents=MemoryDocumentStatusStore(repository), state=state, jobs=jobs, clock=clock
    )
    return World(repository, state, jobs, clock, coordinator)


# ------------------------------------------------------------------------------------------ uploads
def test_an_upload_is_recorded_with_its_real_size_and_starts_a_job(world: World) -> None:
    outcome = world.coordinator.on_uploads([uploaded("doc-a", size=4321)])

    assert outcome.start is not None
    assert outcome.start.action is StartAction.STARTED
    document = world.document("doc-a")
    assert document.status is DocumentStatus.INGESTING
    assert document.size_bytes == 4321
    assert document.ingestion_job_id == outcome.start.job_id
    assert world.state.pending(TENANT) == frozenset()
    current = world.state.current(TENANT)
    assert current is not None
    assert current.job_id == outcome.start.job_id
    assert len(world.jobs.started) == 1


def test_an_upload_while_a_job_runs_stays_pending_without_a_second_start(world: World) -> None:
    world.coordinator.on_uploads([uploaded("doc-a")])

    outcome = world.coordinator.on_uploads([uploaded("doc-b")])

    assert outcome.start is not None
    assert outcome.start.action is StartAction.BUSY
    assert world.status("doc-b") is DocumentStatus.UPLOADED
    assert {u.document.document_id for u in world.state.pending(TENANT)} == {"doc-b"}
    assert world.jobs.start_attempts == 1  # the claim kept the second invocation from even asking Bedrock


@pytest.mark.parametrize(
    ("key_text", "reason"),
    [
        ("notes/readme.txt", SkipReason.NOT_AN_UPLOAD_KEY),
        ("uploads/agt-front-desk/doc-a", SkipReason.NOT_AN_UPLOAD_KEY),
        ("uploads/agt-front-desk/doc-zzz/other.pdf", SkipReason.UNKNOWN_DOCUMENT),
        ("uploads/agt-front-desk/doc-a/not-the-announced-name.pdf", SkipReason.UNKNOWN_DOCUMENT),
        ("uploads/someone-else/doc-a/returns policy.pdf", SkipReason.UNKNOWN_DOCUMENT),
        # the document's metadata sidecar (written by the vendor API) is not a document
        ("uploads/agt-front-desk/doc-a/returns policy.pdf.metadata.json", SkipReason.NOT_AN_UPLOAD_KEY),
    ],
)
def test_keys_that_are_not_announced_uploads_are_skipped_and_the_rest_of_the_batch_goes_on(
    world: World, key_text: str, reason: SkipReason
) -> None:
    stray = UploadedObject(key=key_text, size_bytes=10, sequencer="0062E99A88DC407460")

    outcome = world.coordinator.on_uploads([stray, uploaded("doc-b")])

    assert [(s.key, s.reason) for s in outcome.skipped] == [(key_text, reason)]
    assert [d.document_id for d in outcome.accepted] == ["doc-b"]
    assert world.status("doc-b") is DocumentStatus.INGESTING


def test_a_redelivered_or_older_notification_changes_nothing(world: World) -> None:
    world.coordinator.on_uploads([uploaded("doc-a", sequencer="0062E99A88DC407470")])
    before = world.document("doc-a")

    again = world.coordinator.on_uploads([uploaded("doc-a", sequencer="0062E99A88DC407470")])
    older = world.coordinator.on_uploads([uploaded("doc-a", sequencer="0062E99A88DC40746")])

    assert [s.reason for s in again.skipped + older.skipped] == [SkipReason.DUPLICATE, SkipReason.DUPLICATE]
    assert world.document("doc-a") == before
    assert world.state.pending(TENANT) == frozenset()


def test_an_upload_with_an_unreadable_sequencer_is_skipped(world: World) -> None:
    outcome = world.coordinator.on_uploads([uploaded("doc-a", sequencer="not-hex")])

    assert [s.reason for s in outcome.skipped] == [SkipReason.BAD_SEQUENCER]
    assert world.status("doc-a") is DocumentStatus.AWAITING_UPLOAD


# ------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class JobEnd:
    name: str
    status: JobStatus
    failure_reasons: tuple[str, ...] = ()
    scanned: int = 1
    failed: int = 0
    bedrock_says: DocumentOutcome | None = None
    expected: DocumentStatus = DocumentStatus.INDEXED
    detail_contains: str | None = None


JOB_ENDS = [
    JobEnd("complete", JobStatus.COMPLETE),
    JobEnd(
        "failed job",
        JobStatus.FAILED,
        failure_reasons=("Embedding model access denied",),
        expected=DocumentStatus.FAILED,
        detail_contains="Embedding model access denied",
    ),
    JobEnd("stopped job", JobStatus.STOPPED, expected=DocumentStatus.FAILED, detail_contains="stopped"),
    JobEnd(
        "complete, this document failed",
        JobStatus.COMPLETE,
        scanned=3,
        failed=1,
        bedrock_says=DocumentOutcome(DocumentIngestionState.FAILED, "File type not supported"),
        expected=DocumentStatus.FAILED,
        detail_contains="File type not supported",
    ),
    JobEnd(
        "complete, another document failed",
        JobStatus.COMPLETE,
        scanned=3,
        failed=1,
        bedrock_says=DocumentOutcome(DocumentIngestionState.INDEXED),
    ),
    JobEnd(
        "complete with failures Bedrock does not attribute",
        JobStatus.COMPLETE,
        scanned=3,
        failed=2,
        expected=DocumentStatus.FAILED,
        detail_contains="could not index 2 of the 3",
    ),
]


@pytest.mark.parametrize("end", JOB_ENDS, ids=[e.name for e in JOB_ENDS])
def test_a_finished_job_gives_its_documents_their_result(world: World, end: JobEnd) -> None:
    started = world.coordinator.on_uploads([uploaded("doc-a")]).start
    assert started is not None
    assert started.job_id is not None
    if end.bedrock_says is not None:
        world.jobs.outcomes[key("doc-a")] = end.bedrock_says
    world.jobs.finish(
        started.job_id, end.status, failure_reasons=end.failure_reasons, scanned=end.scanned, failed=end.failed
    )

    tick = world.coordinator.on_tick()

    assert tick.action is TickAction.FINISHED
    document = world.document("doc-a")
    assert document.status is end.expected
    if end.detail_contains is None:
        assert document.detail is None
    else:
        assert document.detail is not None
        assert end.detail_contains in document.detail
    assert world.state.current(TENANT) is None


def test_a_running_job_is_left_alone(world: World) -> None:
    world.coordinator.on_uploads([uploaded("doc-a")])

    tick = world.coordinator.on_tick()

    assert tick.action is TickAction.RUNNING
    assert world.status("doc-a") is DocumentStatus.INGESTING


def test_uploads_that_arrived_during_a_job_get_the_next_job(world: World) -> None:
    first = world.coordinator.on_uploads([uploaded("doc-a")]).start
    world.coordinator.on_uploads([uploaded("doc-b")])
    world.coordinator.on_uploads([uploaded("doc-c")])
    assert first is not None
    assert first.job_id is not None
    world.jobs.finish(first.job_id)

    tick = world.coordinator.on_tick()

    assert tick.indexed == 1
    assert tick.start is not None
    assert tick.start.action is StartAction.STARTED
    assert tick.start.uploads == 2
    assert world.status("doc-a") is DocumentStatus.INDEXED
    assert world.document("doc-b").ingestion_job_id == tick.start.job_id
    assert world.status("doc-c") is DocumentStatus.INGESTING
    assert world.state.pending(TENANT) == frozenset()
    assert len(world.jobs.started) == 2


def test_a_reupload_during_a_job_waits_for_the_next_job_before_it_counts_as_indexed(world: World) -> None:
    first = world.coordinator.on_uploads([uploaded("doc-a", sequencer="0062E99A88DC407460")]).start
    world.coordinator.on_uploads([uploaded("doc-a", sequencer="0062E99A88DC407499")])
    assert first is not None
    assert first.job_id is not None
    world.jobs.finish(first.job_id)

    tick = world.coordinator.on_tick()

    assert tick.indexed == 0  # the first job may have read the old version
    assert tick.start is not None
    assert tick.start.action is StartAction.STARTED
    assert world.document("doc-a").ingestion_job_id == tick.start.job_id
    assert tick.start.job_id is not None
    world.jobs.finish(tick.start.job_id)
    world.coordinator.on_tick()
    assert world.status("doc-a") is DocumentStatus.INDEXED


# ---------------------------------------------------------------------------------- recovery paths
def test_a_job_started_outside_oratio_keeps_uploads_pending_until_bedrock_is_free(world: World) -> None:
    console_job = world.jobs.start("console-started-token-0000000000000", "started in the console")

    outcome = world.coordinator.on_uploads([uploaded("doc-a")])

    assert outcome.start is not None
    assert outcome.start.action is StartAction.BUSY
    assert world.state.current(TENANT) is None  # the claim was given back
    assert world.status("doc-a") is DocumentStatus.UPLOADED
    world.jobs.finish(console_job.job_id)
    tick = world.coordinator.on_tick()
    assert tick.action is TickAction.IDLE
    assert tick.start is not None
    assert tick.start.action is StartAction.STARTED
    assert world.status("doc-a") is DocumentStatus.INGESTING


def test_a_claim_that_never_became_a_job_is_released_after_its_lease(world: World) -> None:
    world.coordinator.on_uploads([uploaded("doc-a")])
    # Simulate an invocation that claimed and died before StartIngestionJob answered.
    current = world.state.current(TENANT)
    assert current is not None
    assert current.job_id is not None
    world.jobs.finish(current.job_id)
    world.coordinator.on_tick()
    world.state.add_pending(TENANT, current.uploads)
    dead = CurrentIngestion(claim_token="oratio-" + "d" * 32, uploads=current.uploads, claimed_at=world.clock.now())
    assert world.state.claim(TENANT, dead)

    assert world.coordinator.on_tick().action is TickAction.STARTING
    world.clock.advance(timedelta(minutes=6))
    tick = world.coordinator.on_tick()

    assert tick.action is TickAction.ABANDONED
    assert tick.start is not None
    assert tick.start.action is StartAction.STARTED
    assert world.status("doc-a") is DocumentStatus.INGESTING


def test_a_job_bedrock_no_longer_knows_puts_its_uploads_back(world: World) -> None:
    started = world.coordinator.on_uploads([uploaded("doc-a")]).start
    assert started is not None
    assert started.job_id is not None
    del world.jobs.jobs[started.job_id]  # e.g. the data source was replaced

    tick = world.coordinator.on_tick()

    assert tick.action is TickAction.LOST
    assert tick.start is not None
    assert tick.start.action is StartAction.STARTED
    assert world.document("doc-a").ingestion_job_id == tick.start.job_id


def test_concurrent_invocations_start_one_job_and_lose_no_upload(world: World) -> None:
    barrier = threading.Barrier(len(DOCS))

    def upload(document_id: str) -> None:
        coordinator = world.coordinator_copy()
        barrier.wait()
        coordinator.on_uploads([uploaded(document_id)])

    threads = [threading.Thread(target=upload, args=(d,)) for d in DOCS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(world.jobs.started) == 1
    current = world.state.current(TENANT)
    assert current is not None
    carried = {u.document.document_id for u in current.uploads | world.state.pending(TENANT)}
    assert carried == set(DOCS)
    # Whatever the first job did not carry, the next one does.
    assert current.job_id is not None
    world.jobs.finish(current.job_id)
    world.coordinator.on_tick()
    final = world.state.current(TENANT)
    if final is not None and final.job_id is not None:
        world.jobs.finish(final.job_id)
        world.coordinator.on_tick()
    assert {world.status(d) for d in DOCS} == {DocumentStatus.INDEXED}


def test_nothing_pending_and_nothing_running_is_idle(world: World) -> None:
    tick = world.coordinator.on_tick()

    assert tick.action is TickAction.IDLE
    assert tick.start is not None
    assert tick.start.action is StartAction.NOTHING_PENDING
    assert world.jobs.start_attempts == 0


@pytest.mark.parametrize(
    ("key_text", "expected"),
    [
        ("uploads/agt-1/doc-2/file.pdf", ("agt-1", "doc-2", "file.pdf")),
        ("uploads/agt-1/doc-2/My notes (v2).md", ("agt-1", "doc-2", "My notes (v2).md")),
        ("uploads/agt-1/doc-2/", None),
        ("uploads/agt-1/doc-2/a/b.pdf", None),
        ("uploads/agt 1/doc-2/file.pdf", None),
        ("other/agt-1/doc-2/file.pdf", None),
    ],
)
def test_upload_keys_are_read_back_into_agent_document_and_file(
    key_text: str, expected: tuple[str, str, str] | None
) -> None:
    parsed = parse_upload_key(key_text)

    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert (parsed[0].agent_id, parsed[0].document_id, parsed[1]) == expected


def test_a_job_started_after_the_claim_was_lost_leaves_its_uploads_pending(world: World) -> None:
    class ReleasingJobs:
        """Bedrock answers so late that a tick has released the claim as abandoned meanwhile."""

        def start(self, client_token: str, description: str) -> Any:
            current = world.state.current(TENANT)
            assert current is not None
            world.state.release(TENANT, current.claim_token)
            return world.jobs.start(client_token, description)

        def get(self, job_id: str) -> Any:
            return world.jobs.get(job_id)

        def document_outcomes(self, s3_keys: Any) -> Any:
            return world.jobs.document_outcomes(s3_keys)

    coordinator = world.coordinator_copy()
    coordinator.jobs = ReleasingJobs()

    outcome = coordinator.on_uploads([uploaded("doc-a")])

    assert outcome.start is not None
    assert outcome.start.action is StartAction.CLAIM_LOST
    assert {u.document.document_id for u in world.state.pending(TENANT)} == {"doc-a"}
    assert world.status("doc-a") is DocumentStatus.UPLOADED


def test_a_job_carries_at_most_the_configured_number_of_uploads_and_the_rest_wait(world: World) -> None:
    coordinator = world.coordinator_copy()
    coordinator.settings = CoordinatorSettings(max_uploads_per_job=2)
    world.jobs.start("console-started-token-0000000000000", "keeps Bedrock busy")
    coordinator.on_uploads([uploaded(d, sequencer=f"00{i}") for i, d in enumerate(DOCS, 1)])
    assert len(world.state.pending(TENANT)) == 3
    world.jobs.finish("JOB0000001")

    tick = coordinator.on_tick()

    assert tick.start is not None
    assert tick.start.uploads == 2
    assert {u.document.document_id for u in world.state.pending(TENANT)} == {"doc-c"}
    assert world.status("doc-c") is DocumentStatus.UPLOADED
