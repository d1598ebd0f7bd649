"""AWS adapters of the vendor API besides DynamoDB: what a tenant stack published (SSM parameters), presigned
S3 uploads into the tenant's knowledge bucket, and each upload's knowledge-base metadata sidecar."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.vendors.models import UploadInstructions
from oratio.vendors.ports import TenantDeployment

# What TenantStack publishes under /oratio/tenants/<id>/ (stacks.names.tenant_parameter) that the API reads.
DEPLOYMENT_PARAMETERS = {
    "connect/instance-arn": "connect_instance_arn",
    "connect/phone-number": "phone_number",
    "knowledge/bucket-name": "knowledge_bucket",
    "limits/max-agents": "max_agents",
    "connect/recordings-bucket": "recordings_bucket",
    "connect/chat-flow-arn": "chat_flow_arn",
    "connect/sms-number": "sms_number",
    "channels/webhook-url": "channels_webhook_url",
    "agent/runtime-arn": "agent_runtime_arn",
}
CACHE_SECONDS = 60.0  # a fresh deployment is seen within a minute
UNKNOWN_TENANT_CACHE_SECONDS = 10.0  # a tenant deployed after its users were invited is admitted within seconds
MAX_CACHED_TENANTS = 1_024
CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=3, retries={"mode": "standard", "max_attempts": 3})


class TenantDirectoryError(Exception):
    """The tenant parameters could not be read (not "not deployed": that is an empty deployment)."""


class SsmTenantDirectory:
    """`TenantDirectory` over SSM: one GetParameters call per tenant, cached per container so a burst of requests
    does not hammer SSM, yet a fresh deployment is seen within a minute. A tenant that published nothing (not
    deployed, or a mistyped id in a token) is remembered for a few seconds only, and the cache holds at most
    `MAX_CACHED_TENANTS` tenants (oldest dropped first), whatever ids tokens carry."""

    def __init__(
        self,
        parameter_prefix: str = "/oratio/tenants",
        *,
        client: Any | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = parameter_prefix.rstrip("/")
        self._client_instance = client
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, TenantDeployment]] = {}

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("ssm", config=CLIENT_CONFIG)
        return self._client_instance

    def deployment(self, tenant_id: str) -> TenantDeployment:
        cached = self._cache.get(tenant_id)
        if cached is not None:
            age = self._monotonic() - cached[0]
            if age < (CACHE_SECONDS if cached[1].deployed else UNKNOWN_TENANT_CACHE_SECONDS):
                return cached[1]
        names = {f"{self._prefix}/{tenant_id}/{suffix}": field for suffix, field in DEPLOYMENT_PARAMETERS.items()}
        try:
            response = self._client.get_parameters(Names=list(names))
        except (ClientError, BotoCoreError) as e:
            raise TenantDirectoryError(f"reading the parameters of tenant {tenant_id!r} failed") from e
        values: dict[str, Any] = {names[p["Name"]]: p["Value"] for p in response.get("Parameters", [])}
        deployment = TenantDeployment(tenant_id=tenant_id, **values)
        self._cache.pop(tenant_id, None)
        if len(self._cache) >= MAX_CACHED_TENANTS:
            del self._cache[next(iter(self._cache))]
        self._cache[tenant_id] = (self._monotonic(), deployment)
        return deployment


class S3UploadSigner:
    """`UploadSigner` with presigned POSTs: S3 itself enforces the announced content type and size."""

    def __init__(self, *, client: Any | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._client_instance = client
        self._clock = clock

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client(
                "s3", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
            )
        return self._client_instance

    def presign_upload(
        self, bucket: str, key: str, content_type: str, max_bytes: int, expires_seconds: int
    ) -> UploadInstructions:
        post = self._client.generate_presigned_post(
            Bucket=bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_seconds,
        )
        return UploadInstructions(
            url=post["url"],
            fields={str(k): str(v) for k, v in post["fields"].items()},
            expires_at=self._clock() + timedelta(seconds=expires_seconds),
        )


class DocumentMetadataError(Exception):
    """The metadata sidecar could not be written (the message names the bucket and key, never the content)."""


class S3DocumentMetadata:
    """`DocumentMetadataWriter` putting `<key>.metadata.json` beside the document, as the S3 data source reads it."""

    def __init__(self, *, client: Any | None = None) -> None:
        self._client_instance = client

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("s3", config=CLIENT_CONFIG)
        return self._client_instance

    def write(self, bucket: str, key: str, metadata: dict[str, Any]) -> None:
        try:
            self._client.put_object(
                Bucket=bucket,
                Key=key,
                Body=json.dumps(metadata, sort_keys=True).encode(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as e:
            raise DocumentMetadataError(f"S3 PutObject {bucket}/{key} failed: {type(e).__name__}") from e
