"""The platform's artifact bucket (generated agent code, versioned) and its access-log bucket."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge
from stacks.names import Outputs


def secure_bucket(
    scope: Construct, construct_id: str, *, access_logs: s3.IBucket | None, **kwargs: object
) -> s3.Bucket:
    """A private, encrypted, versioned, TLS-only bucket that is kept when the stack is deleted."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{construct_id.lower()}/" if access_logs else None,
        removal_policy=RemovalPolicy.RETAIN,
        **kwargs,  # type: ignore[arg-type]
    )


def access_log_bucket(scope: Construct, construct_id: str = "AccessLogs") -> s3.Bucket:
    """Receives S3 server access logs; it cannot log to itself, which cdk-nag is told."""
    bucket = secure_bucket(
        scope,
        construct_id,
        access_logs=None,
        lifecycle_rules=[
            s3.LifecycleRule(expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(30))
        ],
    )
    acknowledge(bucket, "S1", "This is the server-access-log destination; logging it to itself would loop.")
    return bucket


class ArtifactStore(Construct):
    """Versioned store for AgentCreator-generated agent code; each approved version is an object version."""

    def __init__(self, scope: Construct, construct_id: str, *, access_logs: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.bucket = secure_bucket(
            self,
            "Bucket",
            access_logs=access_logs,
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(365))],
        )
        CfnOutput(scope, Outputs.ARTIFACT_BUCKET, value=self.bucket.bucket_name)
