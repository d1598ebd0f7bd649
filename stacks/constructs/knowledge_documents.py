"""The tenant-wide knowledge documents: the tenant file's `knowledge.sources` (files shipped in the repository)
uploaded at deploy under `tenant/` in the knowledge bucket, each with its metadata sidecar marking it tenant-wide
(`oratio.domain.knowledge_scope`), so every agent of the tenant whose definition includes tenant documents finds
them, and nobody else's documents; then an ingestion job of the data source, started when the documents change.

No Docker: a CDK bucket deployment of a folder staged at synth (`build/knowledge/<tenant>`), and an AWS SDK call
(`StartIngestionJob`) as a custom resource. A job Bedrock is already running answers `ConflictException`, which
is accepted: every job syncs the whole bucket, so the running one or the next (the next upload, or the next deploy)
carries the documents. Sources given by URL are not uploaded (there is no file to ship).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from aws_cdk import ArnFormat, DefaultStackSynthesizer, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from oratio.config import TenantConfig
from oratio.domain.knowledge_scope import TENANT_DOCUMENTS_PREFIX, metadata_document, sidecar_key
from stacks.constructs.knowledge import TenantKnowledge
from stacks.nag import acknowledge

ROOT = Path(__file__).resolve().parents[2]
STAGING_DIR = ROOT / "build" / "knowledge"
# The singletons the CDK adds at stack level for these two custom resources (their ids are fixed in aws-cdk-lib).
BUCKET_DEPLOYMENT_HANDLER = "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"
SDK_CALL_HANDLER = "AWS679f53fac002430cb0da5b7982bd2287"


def stage_tenant_documents(tenant: TenantConfig, tenants_dir: Path) -> Path | None:
    """Copy the tenant's file sources into one folder with their sidecars (idempotent, offline); None if none."""
    files = [(s, tenants_dir / s.path) for s in tenant.knowledge.sources if s.path is not None]
    if not files:
        return None
    target = STAGING_DIR / tenant.tenant_id
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for source, path in files:
        name = f"{source.name}{path.suffix}"
        shutil.copyfile(path, target / name)
        (target / sidecar_key(name)).write_text(json.dumps(metadata_document(None), sort_keys=True))
    return target


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class TenantDocuments(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        tenants_dir: Path,
        knowledge: TenantKnowledge,
    ) -> None:
        super().__init__(scope, construct_id)
        staged = stage_tenant_documents(tenant, tenants_dir)
        self.deployment: s3deploy.BucketDeployment | None = None
        if staged is None:
            return
        stack = Stack.of(self)
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Upload",
            destination_bucket=knowledge.bucket,
            sources=[s3deploy.Source.asset(str(staged))],
            destination_key_prefix=f"{TENANT_DOCUMENTS_PREFIX}/",
            prune=True,  # only under tenant/: a source removed from the tenant file is removed from the bucket
            retain_on_delete=True,  # the bucket is retained on destroy; so are the documents in it
        )
        knowledge_base_arn = stack.format_arn(
            service="bedrock",
            resource="knowledge-base",
            resource_name=knowledge.knowledge_base.attr_knowledge_base_id,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        call = cr.AwsSdkCall(
            service="bedrock-agent",
            action="StartIngestionJob",
            parameters={
                "knowledgeBaseId": knowledge.knowledge_base.attr_knowledge_base_id,
                "dataSourceId": knowledge.data_source.attr_data_source_id,
                # A new token per content: a changed document starts a job, a redeploy of the same ones does not.
                "clientToken": _digest(staged),
                "description": f"Oratio: tenant-wide documents of {tenant.tenant_id}",
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"{tenant.tenant_id}-tenant-documents"),
            ignore_error_codes_matching="ConflictException",
        )
        self.sync = cr.AwsCustomResource(
            self,
            "Ingest",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["bedrock:StartIngestionJob"], resources=[knowledge_base_arn])]
            ),
            install_latest_aws_sdk=False,
        )
        self.sync.node.add_dependency(self.deployment)
        self._acknowledge(stack, knowledge)

    def _acknowledge(self, stack: Stack, knowledge: TenantKnowledge) -> None:
        for handler_id, what in (
            (BUCKET_DEPLOYMENT_HANDLER, "the CDK's bucket deployment handler (copies the tenant's documents)"),
            (SDK_CALL_HANDLER, "the CDK's AWS SDK call handler (starts one ingestion job)"),
        ):
            handler = stack.node.try_find_child(handler_id)
            if handler is None:
                continue
            acknowledge(handler, "L1", f"{what}: its runtime is pinned by aws-cdk-lib, not by this project.")
            acknowledge(
                handler,
                "IAM4",
                f"{what}: the CDK gives it AWSLambdaBasicExecutionRole for its own logs.",
                applies_to="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            )
        handler = stack.node.try_find_child(BUCKET_DEPLOYMENT_HANDLER)
        if handler is None:
            return
        bucket = stack.resolve(stack.get_logical_id(knowledge.bucket.node.default_child))  # type: ignore[arg-type]
        copied = (
            "the CDK's bucket deployment handler copies the staged documents (objects of the CDK asset bucket) into "
            "the knowledge bucket and prunes what the tenant file no longer lists; the CDK's grant names those "
            "object patterns."
        )
        acknowledge_bucket_copy(handler, stack, bucket, copied)


def acknowledge_bucket_copy(handler: IConstruct, stack: Stack, bucket_logical_id: str, reason: str) -> None:
    """The wildcards of the CDK bucket deployment handler's grant (read the asset objects, write and prune the
    destination bucket's objects), acknowledged with `reason`."""
    for finding in (
        "Action::s3:GetBucket*",
        "Action::s3:GetObject*",
        "Action::s3:List*",
        "Action::s3:Abort*",
        "Action::s3:DeleteObject*",
        f"Resource::<{bucket_logical_id}.Arn>/*",
        asset_objects_finding(stack),
    ):
        acknowledge(handler, "IAM5", reason, applies_to=finding)


def asset_objects_finding(stack: Stack) -> str:
    """The CDK asset bucket's objects as cdk-nag names them: pseudo parameters where the stack's environment is
    left to deploy time, the values where it is given."""

    def shown(value: str, pseudo: str) -> str:
        return f"<{pseudo}>" if Token.is_unresolved(value) else value

    bucket = (
        f"cdk-{DefaultStackSynthesizer.DEFAULT_QUALIFIER}-assets-"
        f"{shown(stack.account, 'AWS::AccountId')}-{shown(stack.region, 'AWS::Region')}"
    )
    return f"Resource::arn:{shown(stack.partition, 'AWS::Partition')}:s3:::{bucket}/*"
