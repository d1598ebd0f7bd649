"""Building blocks every Oratio construct stores things with: private S3 buckets, their access-log
buckets, and the SSM parameters a tenant stack publishes what it deployed under."""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from oratio.channels.credentials import SECRET_PREFIX
from stacks.nag import acknowledge
from stacks.names import tenant_parameter

ACCESS_LOG_RETENTION = Duration.days(365)
DEAD_LETTER_RETENTION = Duration.days(14)  # SQS's maximum: time to look at what failed


def access_log_bucket(scope: Construct, construct_id: str) -> s3.Bucket:
    """Destination of S3 server access logs. SSE-S3 because log delivery cannot write with a KMS default."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[s3.LifecycleRule(expiration=ACCESS_LOG_RETENTION)],
        removal_policy=RemovalPolicy.RETAIN,
    )


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    access_logs: s3.IBucket,
    log_prefix: str,
    key: kms.IKey | None = None,
    **extra: Any,
) -> s3.Bucket:
    """A versioned, TLS-only bucket with public access blocked, access logs on, kept when the stack is
    deleted; encrypted with `key` (bucket keys on) or SSE-S3 when no key is given."""
    encryption = (
        {"encryption": s3.BucketEncryption.KMS, "encryption_key": key, "bucket_key_enabled": True}
        if key is not None
        else {"encryption": s3.BucketEncryption.S3_MANAGED}
    )
    return s3.Bucket(
        scope,
        construct_id,
        versioned=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=log_prefix,
        removal_policy=RemovalPolicy.RETAIN,
        **encryption,
        **extra,
    )


def publish_tenant_parameters(scope: Construct, tenant_id: str, values: dict[str, str]) -> None:
    """One SSM String parameter per value at `/oratio/tenants/<tenant>/<name>` (read by the vendor API)."""
    for name, value in values.items():
        ssm.StringParameter(
            scope,
            "Param" + "".join(p.capitalize() for p in re.split(r"[/-]", name)),
            parameter_name=tenant_parameter(tenant_id, name),
            string_value=value,
        )


def dead_letter_queue(scope: Construct, construct_id: str, *, holds: str, fifo: bool = False) -> sqs.Queue:
    """An encrypted, TLS-only queue keeping what `holds` (e.g. "the knowledge-upload queue's failed messages")
    for SQS's maximum retention; it is itself the end of the line, so it has no dead-letter queue of its own.
    A FIFO queue's dead-letter queue must be FIFO too (`fifo`)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
        fifo=fifo or None,
    )
    acknowledge(queue, "SQS3", f"This is a dead-letter queue ({holds}); a DLQ of a DLQ would only move them again.")
    return queue


def runtime_secrets_arn(scope: Construct, tenant: str, kind: str) -> str:
    """The ARN pattern of the secrets the vendor API writes at run time: `oratio/<tenant>/<kind>/*` (`kind`:
    channels, elizaos; `tenant` "*" for every tenant). The trailing wildcard also covers Secrets Manager's suffix."""
    return Stack.of(scope).format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{SECRET_PREFIX}/{tenant}/{kind}/*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
