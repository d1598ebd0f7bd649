"""The one factory for Lambda functions: python3.12 on arm64, X-Ray tracing, a log group with
retention, Powertools settings and a role of its own. Functions differ only in what makes them
different (code folder, environment, permissions granted by the caller).

Code is bundled without Docker: the handler folder and the shared `oratio` package are copied into
`build/assets/<name>` at synth, and third-party dependencies come from one layer built by
`scripts/bootstrap.sh` with arm64 wheels (`build/layers/deps`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.nag import acknowledge
from stacks.names import METRICS_NAMESPACE

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = ROOT / "lambdas"
CORE_PACKAGE = ROOT / "oratio"
ASSETS_DIR = ROOT / "build" / "assets"
LAYER_DIR = ROOT / "build" / "layers" / "deps"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH  # every Oratio log group
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")


class MissingBuildError(RuntimeError):
    """The dependency layer has not been built; the message says how to build it."""


def stage_function_code(handler_folder: str) -> Path:
    """Copy lambdas/<folder> and the core package into one asset folder (idempotent, offline)."""
    source = LAMBDAS_DIR / handler_folder
    if not (source / "handler.py").is_file():
        raise FileNotFoundError(f"{source}/handler.py not found: every Lambda folder needs a handler.py")
    target = ASSETS_DIR / handler_folder
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=_IGNORE)
    shutil.copytree(CORE_PACKAGE, target / "oratio", ignore=_IGNORE)
    return target


def dependency_layer(scope: Construct) -> lambda_.ILayerVersion:
    """One dependency layer per stack, shared by its functions."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("OratioDependencies")
    if existing is not None:
        return existing  # type: ignore[return-value]
    if not (LAYER_DIR / "python").is_dir():
        raise MissingBuildError(
            f"{LAYER_DIR}/python is missing: run `make setup` (scripts/bootstrap.sh) to build the "
            "Lambda dependency layer before synthesizing"
        )
    return lambda_.LayerVersion(
        stack,
        "OratioDependencies",
        code=lambda_.Code.from_asset(str(LAYER_DIR)),
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
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.lambda_handler",
            code=lambda_.Code.from_asset(str(stage_function_code(handler_folder))),
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
