"""Bedrock's ingestion-job API (`bedrock-agent`) behind the `IngestionJobs` port, for one knowledge base and its
S3 data source: StartIngestionJob, GetIngestionJob and GetKnowledgeBaseDocuments (per-document status).

Every failure surfaces as an `IngestionApiError` subclass raised from the botocore error; the two the coordinator
acts on are also its domain errors (`IngestionJobConflict`, `IngestionJobNotFound`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.vendors.ingestion import (
    DocumentIngestionState,
    DocumentOutcome,
    IngestionJob,
    IngestionJobConflict,
    IngestionJobNotFound,
    JobStatus,
)

logger = logging.getLogger(__name__)

# The ingestion Lambda runs off the request path (SQS, schedule): room for a slow control-plane answer, and
# botocore's standard retries for throttling.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 4})
# GetKnowledgeBaseDocuments takes at most 10 document identifiers per call.
DOCUMENTS_PER_LOOKUP = 10
_INDEXED = frozenset({"INDEXED"})
# PARTIALLY_INDEXED: some chunks are searchable, some are not; the vendor should fix and re-upload the document.
_FAILED = frozenset({"FAILED", "PARTIALLY_INDEXED", "IGNORED", "NOT_FOUND"})
_UNAVAILABLE_CODES = frozenset({"ThrottlingException", "InternalServerException", "ServiceUnavailableException"})


class IngestionApiError(Exception):
    """A Bedrock ingestion call failed; the message names the operation and the error code."""


class IngestionApiUnavailableError(IngestionApiError):
    """Bedrock throttled us or failed on its side: retrying later may work."""


class IngestionApiRequestError(IngestionApiError):
    """Bedrock refused the request (validation, access, quota): retrying won't help until that is fixed."""


class IngestionApiConflictError(IngestionApiError, IngestionJobConflict):
    """Another ingestion job is running on the data source."""


class IngestionApiNotFoundError(IngestionApiError, IngestionJobNotFound):
    """The knowledge base, data source or job does not exist."""


def _translate(error: ClientError | BotoCoreError, operation: str) -> IngestionApiError:
    where = f"bedrock-agent {operation}"
    if isinstance(error, BotoCoreError):
        return IngestionApiUnavailableError(f"{where}: {type(error).__name__}")
    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code == "ConflictException":
        return IngestionApiConflictError(f"{where}: {code}")
    if code == "ResourceNotFoundException":
        return IngestionApiNotFoundError(f"{where}: {code}")
    if code in _UNAVAILABLE_CODES or (isinstance(status, int) and status >= 500):
        return IngestionApiUnavailableError(f"{where}: {code}")
    return IngestionApiRequestError(f"{where}: {code}")


def bedrock_agent_client() -> Any:
    """A bedrock-agent client with Oratio's timeouts and retry mode."""
    return boto3.client("bedrock-agent", config=CLIENT_CONFIG)


def _job(payload: Mapping[str, Any]) -> IngestionJob:
    job = payload["ingestionJob"]
    statistics = job.get("statistics") or {}
    return IngestionJob(
        job_id=job["ingestionJobId"],
        status=JobStatus(job["status"]),
        failure_reasons=tuple(job.get("failureReasons") or ()),
        documents_scanned=statistics.get("numberOfDocumentsScanned", 0),
        documents_failed=statistics.get("numberOfDocumentsFailed", 0),
    )


class BedrockIngestionJobs:
    """Ingestion jobs of one knowledge base's S3 data source over the knowledge bucket `bucket`."""

    def __init__(self, knowledge_base_id: str, data_source_id: str, bucket: str, *, client: Any | None = None) -> None:
        self.knowledge_base_id = knowledge_base_id
        self.data_source_id = data_source_id
        self.bucket = bucket
        self._client_instance = client

    @property
    def _client(self) -> Any:
        # Built on first use, so tests can stub it and a cold start that needs no Bedrock call pays nothing.
        if self._client_instance is None:
            self._client_instance = bedrock_agent_client()
        return self._client_instance

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = getattr(self._client, operation)(
                knowledgeBaseId=self.knowledge_base_id, dataSourceId=self.data_source_id, **kwargs
            )
        except (ClientError, BotoCoreError) as e:
            raise _translate(e, operation) from e
        return dict(response)

    def start(self, client_token: str, description: str) -> IngestionJob:
        # The client token makes a retried call (botocore's or ours) start at most one job.
        return _job(self._call("start_ingestion_job", clientToken=client_token, description=description))

    def get(self, job_id: str) -> IngestionJob:
        return _job(self._call("get_ingestion_job", ingestionJobId=job_id))

    def document_outcomes(self, s3_keys: Sequence[str]) -> dict[str, DocumentOutcome]:
        prefix = f"s3://{self.bucket}/"
        outcomes: dict[str, DocumentOutcome] = {}
        if not hasattr(self._client, "get_knowledge_base_documents"):
            # A Lambda runtime boto3 older than the call (Dec 2024): the coordinator falls back to the job's count.
            logger.warning("bedrock-agent client has no GetKnowledgeBaseDocuments; per-document status unavailable")
            return dict.fromkeys(s3_keys, DocumentOutcome(DocumentIngestionState.UNKNOWN))
        for start in range(0, len(s3_keys), DOCUMENTS_PER_LOOKUP):
            batch = s3_keys[start : start + DOCUMENTS_PER_LOOKUP]
            response = self._call(
                "get_knowledge_base_documents",
                documentIdentifiers=[{"dataSourceType": "S3", "s3": {"uri": prefix + key}} for key in batch],
            )
            for detail in response.get("documentDetails", []):
                uri = str(detail.get("identifier", {}).get("s3", {}).get("uri", ""))
                if not uri.startswith(prefix):
                    continue
                status = str(detail.get("status", ""))
                if status in _INDEXED:
                    state = DocumentIngestionState.INDEXED
                elif status in _FAILED:
                    state = DocumentIngestionState.FAILED
                else:
                    state = DocumentIngestionState.UNKNOWN
                reason = detail.get("statusReason") or (status.lower().replace("_", " ") if status else None)
                outcomes[uri.removeprefix(prefix)] = DocumentOutcome(state, reason)
        return {key: outcomes.get(key, DocumentOutcome(DocumentIngestionState.UNKNOWN)) for key in s3_keys}
