"""The platform's artifact bucket: AgentCreator-generated agent code, one object version per version."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.storage import access_log_bucket, private_bucket
from stacks.names import Outputs


class ArtifactStore(Construct):
    """Versioned store for generated agent code; a vendor approves a version before it goes live."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = access_log_bucket(self, "AccessLogs")
        self.bucket = private_bucket(
            self,
            "Bucket",
            access_logs=self.access_logs,
            log_prefix="artifacts/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(365))],
        )
        CfnOutput(scope, Outputs.ARTIFACT_BUCKET, value=self.bucket.bucket_name)
