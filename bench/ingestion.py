"""Knowledge ingestion figures: cold import time of the ingestion handler, and warm handler latency with the data
layer in memory and a local stand-in for Bedrock's ingestion jobs — an SQS batch of upload notifications, and a
scheduled tick that records a finished job on its documents and starts the next one."""

from __future__ import annotations

import io
import statistics
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime
from typing import Any

from bench.stats import cold_import_seconds, report, report_value
from oratio.adapters.memory import FixedClock
from oratio.adapters.memory_ingestion import LocalIngestionJobs, MemoryDocumentStatusStore, MemoryIngestionStateStore
from oratio.adapters.memory_vendor import MemoryDocumentRepository
from oratio.vendors.ingestion import IngestionCoordinator, UploadedObject
from oratio.vendors.models import DocumentStatus
from oratio.vendors.ports import KnowledgeDocument
from oratio.vendors.service import upload_key
from oratio_local.events import lambda_context, s3_object_created_notification, scheduled_event, sqs_event
from oratio_local.lambdas import load_handler

TENANT = "cozy-comfort"
AGENT = "agt-front-desk"
BUCKET = "oratio-cozy-comfort-knowledge-documents"
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
BATCH = 10  # the event source mapping's batch size


class _World:
    """An in-memory tenant whose documents are announced on demand, with a fresh sequence of S3 sequencers."""

    def __init__(self) -> None:
        self.repository = MemoryDocumentRepository()
        self.jobs = LocalIngestionJobs()
        self.coordinator = IngestionCoordinator(
            tenant_id=TENANT,
            documents=MemoryDocumentStatusStore(self.repository),
            state=MemoryIngestionStateStore(),
            jobs=self.jobs,
            clock=FixedClock(T0),
        )
        self.count = 0

    def announce(self, n: int) -> list[str]:
        keys = []
        for _ in range(n):
            self.count += 1
            document_id = f"doc-{self.count:08d}"
            key = upload_key(AGENT, document_id, "policy.pdf")
            self.repository.create(
                KnowledgeDocument(
                    vendor_id=TENANT,
                    agent_id=AGENT,
                    document_id=document_id,
                    file_name="policy.pdf",
                    content_type="application/pdf",
                    size_bytes=1000,
                    s3_key=key,
                    status=DocumentStatus.AWAITING_UPLOAD,
                    created_at=T0,
                    updated_at=T0,
                )
            )
            keys.append(key)
        return keys

    def batch(self, n: int) -> dict[str, object]:
        notifications = [
            s3_object_created_notification(BUCKET, key, sequencer=f"{self.count:016X}") for key in self.announce(n)
        ]
        return sqs_event(*notifications)

    def finish_running(self) -> None:
        running = self.jobs.running
        if running is not None:
            self.jobs.finish(running.job_id)


def _settings(handler: Any) -> Any:
    return handler.IngestionSettings(
        tenant_id=TENANT,
        knowledge_base_id="KB12345678",
        data_source_id="DS12345678",
        knowledge_bucket=BUCKET,
        documents_table="bench-documents",
        tenant_state_table="bench-tenant-state",
    )


def _handler(world: _World) -> Any:
    handler: Any = load_handler("knowledge_ingestion")
    handler.build_coordinator = lambda: world.coordinator
    handler.settings = lambda: _settings(handler)
    return handler


def warm_batch_samples(iterations: int) -> list[float]:
    """One SQS batch of `BATCH` upload notifications for a fresh tenant: the first upload starts a job, the other
    nine find it claimed and join the pending set."""
    holder = [_World()]
    handler: Any = load_handler("knowledge_ingestion")  # a module loaded from a file path
    handler.build_coordinator = lambda: holder[0].coordinator
    handler.settings = lambda: _settings(handler)
    context = lambda_context("knowledge_ingestion")
    sink = io.StringIO()
    warmup = 50
    samples: list[float] = []
    for i in range(iterations + warmup):
        holder[0] = _World()  # untimed: a new tenant with ten announced documents
        event = holder[0].batch(BATCH)
        start = time.perf_counter()
        with redirect_stdout(sink):
            answer = handler.lambda_handler(event, context)
        elapsed = time.perf_counter() - start
        sink.seek(0)
        sink.truncate()
        assert answer == {"batchItemFailures": []}, answer
        assert len(holder[0].jobs.started) == 1
        if i >= warmup:
            samples.append(elapsed)
    return samples


def warm_tick_samples(iterations: int, documents: int) -> list[float]:
    """One tick that finds the job finished, marks its `documents` indexed and starts the next job."""
    world = _World()
    handler = _handler(world)
    context = lambda_context("knowledge_ingestion")
    sink = io.StringIO()
    event = scheduled_event()
    warmup = 20
    world.coordinator.on_uploads([_uploaded(key, n) for n, key in enumerate(world.announce(documents), 1)])
    samples: list[float] = []
    for i in range(iterations + warmup):
        # Untimed: the running job ends, and `documents` more uploads wait for the next one.
        world.finish_running()
        world.coordinator.on_uploads([_uploaded(key, 10_000 + i) for key in world.announce(documents)])
        start = time.perf_counter()
        with redirect_stdout(sink):
            answer = handler.lambda_handler(event, context)
        elapsed = time.perf_counter() - start
        sink.seek(0)
        sink.truncate()
        assert answer["action"] == "finished", answer
        if i >= warmup:
            samples.append(elapsed)
    return samples


def _uploaded(key: str, n: int) -> UploadedObject:
    return UploadedObject(key=key, size_bytes=1000, sequencer=f"{n:016X}")


def run(iterations: int = 500) -> None:
    print("knowledge ingestion")
    cold = cold_import_seconds("knowledge_ingestion")
    report_value("cold import of handler module (median of 7)", statistics.median(cold) * 1e3, "ms")
    report(f"SQS batch of {BATCH} uploads, in-memory ({iterations} batches)", warm_batch_samples(iterations))
    report(f"tick: finish job of 50 docs + start next ({iterations // 5})", warm_tick_samples(iterations // 5, 50))
