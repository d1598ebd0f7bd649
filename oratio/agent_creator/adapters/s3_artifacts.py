"""`S3Artifacts`: the artifact bucket as AgentCreator's `ArtifactStore` (agent.py, manifest, test scripts) and as
the large-output space of its job store. Keys are `agent-creator/<tenant>/<agent>/<job_id>/...`; the bucket
(versioned, encrypted, owned by the platform stack) is named by configuration."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
KEY_PREFIX = "agent-creator/"


class ArtifactStoreError(Exception):
    """The artifact bucket could not be read or written."""


class ArtifactNotFoundError(ArtifactStoreError, KeyError):
    pass


class S3Artifacts:
    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client_instance = client

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("s3", config=CLIENT_CONFIG)
        return self._client_instance

    def put(self, key: str, body: bytes, content_type: str) -> None:
        if not key.startswith(KEY_PREFIX):
            raise ValueError(f"AgentCreator writes only under {KEY_PREFIX}, not {key!r}")
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as e:
            raise ArtifactStoreError(f"S3 put_object {key}: {type(e).__name__}") from e

    def get(self, key: str) -> bytes:
        try:
            return bytes(self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise ArtifactNotFoundError(key) from e
            raise ArtifactStoreError(f"S3 get_object {key}: {type(e).__name__}") from e
        except BotoCoreError as e:
            raise ArtifactStoreError(f"S3 get_object {key}: {type(e).__name__}") from e
