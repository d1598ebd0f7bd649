"""The one factory for Lambda functions: python3.12 on arm64, X-Ray tracing, a log group with
retention, Powertools settings and a role of its own. Functions differ only in what makes them
different (code folder, environment, permissions granted by the caller).

Code is bundled without Docker: the handler folder and the shared `oratio` package (plus any extra
repository sources the function names) are copied into `build/assets/<name>` at synth and compiled to
python3.12 byte-code (Lambda's code folder is read-only: without it every cold start compiles the sources
again); third-party dependencies come from one layer built by `scripts/bootstrap.sh` with arm64 wheels and
byte-code (`build/layers/deps`). A bundle whose sources did not change is not staged again, and each asset's
hash comes from its sources' digest or the layer's stamp (`stacks/staging.py`), not from fingerprinting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from aws_cdk import AssetHashType, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.bytecode import compile_tree
from stacks.nag import acknowledge
from stacks.names import METRICS_NAMESPACE
from stacks.staging import (
    MissingBuildError,
    StagedAsset,
    copy_entries,
    restage,
    source_digest,
    vendored_stamp,
    vendored_zip,
)

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = ROOT / "lambdas"
CORE_PACKAGE = ROOT / "oratio"
ASSETS_DIR = ROOT / "build" / "assets"
LAYER_DIR = ROOT / "build" / "layers" / "deps"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH  # every Oratio log group

__all__ = ["MissingBuildError", "OratioFunction", "dependency_layer", "stage_function_code"]


def stage_function_code(handler_folder: str, extra_sources: Sequence[str] = ()) -> StagedAsset:
    """lambdas/<folder> and the core package in one asset folder, compiled for python3.12 (offline; skipped
    when the folder is already staged from the same sources).

    `extra_sources` are repository paths (files or folders) a handler needs beyond the core package, copied
    to the same relative path in the bundle, e.g. the tenant agent's typed client; their third-party imports
    must be in the dependency layer.

    Staged once per process: every tenant stack's functions share these bundles, and digesting the core
    package's sources again for each function was the largest Python cost of a tenant stack (cProfile).
    """
    return _stage_once(handler_folder, tuple(extra_sources))


@cache
def _stage_once(handler_folder: str, extra_sources: tuple[str, ...]) -> StagedAsset:
    source = LAMBDAS_DIR / handler_folder
    if not (source / "handler.py").is_file():
        raise FileNotFoundError(f"{source}/handler.py not found: every Lambda folder needs a handler.py")
    entries: list[tuple[Path, str]] = [(source, "."), (CORE_PACKAGE, "oratio")]
    for extra in extra_sources:
        origin = ROOT / extra
        if not origin.exists() or ROOT not in origin.resolve().parents:
            raise FileNotFoundError(f"{extra}: extra Lambda source not found in the repository")
        entries.append((origin, extra))

    def build(target: Path) -> None:
        copy_entries(entries, target)
        compile_tree(target)

    return restage(ASSETS_DIR / handler_folder, source_digest(entries), build)


def dependency_layer(scope: Construct) -> lambda_.ILayerVersion:
    """One dependency layer per stack, shared by its functions."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("OratioDependencies")
    if existing is not None:
        return existing  # type: ignore[return-value]
    stamp = vendored_stamp(LAYER_DIR)
    if not (LAYER_DIR / "python").is_dir():
        raise MissingBuildError(
            f"{LAYER_DIR}/python is missing: run `make setup` (scripts/bootstrap.sh) to build the "
            "Lambda dependency layer before synthesizing"
        )
    archive = vendored_zip(LAYER_DIR)  # one file for synth to copy, not the layer's ~2,000
    return lambda_.LayerVersion(
        stack,
        "OratioDependencies",
        # The layer is what its pinned requirements installed: its stamp names it (no fingerprinting).
        code=lambda_.Code.from_asset(str(archive), asset_hash_type=AssetHashType.CUSTOM, asset_hash=stamp),
        compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
        compatible_architectures=[lambda_.Architecture.ARM_64],
        description="Oratio Lambda dependencies (Powertools, pydantic, tzdata) for python3.12/arm64",
    )


class OratioFunction(Construct):
    """A Lambda function built the Oratio way. Grant it what it needs through `.function`/`.role`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler_folder: str,
        service_name: str,
        description: str,
        environment: dict[str, str] | None = None,
        timeout_seconds: int = 8,
        memory_size: int = 512,
        role_name: str | None = None,
        extra_sources: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {service_name} (least privilege, no managed policies)",
            # A fixed name only where another stack must name this role in a resource policy.
            role_name=role_name,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        bundle = stage_function_code(handler_folder, extra_sources)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.lambda_handler",
            code=lambda_.Code.from_asset(
                str(bundle.path), asset_hash_type=AssetHashType.CUSTOM, asset_hash=bundle.asset_hash
            ),
            layers=[dependency_layer(self)],
            role=self.role,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            description=description,
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
        acknowledge(
            self.role,
            "IAM5",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so "
            "active tracing needs Resource '*'; every other statement is scoped.",
            applies_to="Resource::*",
        )
        acknowledge(
            self.function,
            "L1",
            "Pinned to python3.12 on purpose: AgentCore runs PYTHON_3_12 and the shared core package "
            "is tested on 3.12; raise it for all functions at once, not here.",
        )
