"""The platform's DynamoDB tables, built from the shared specs in `oratio/tables.py`, and the way a
tenant stack refers to them (by SSM parameter, so platform and tenants deploy independently)."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from oratio.tables import AGENT_DEFINITIONS, AGENTS, ALL_TABLES, TableSpec
from stacks.names import Outputs, platform_table_name_parameter

_STRING = dynamodb.AttributeType.STRING
_NUMBER = dynamodb.AttributeType.NUMBER


class PlatformTables(Construct):
    """Creates every table with point-in-time recovery, encryption, on-demand billing and retention
    on stack deletion, and publishes each table's name as an SSM parameter."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {}
        for spec in ALL_TABLES:
            table = dynamodb.Table(
                self,
                _construct_id(spec),
                partition_key=dynamodb.Attribute(name=spec.partition_key, type=_STRING),
                sort_key=dynamodb.Attribute(name=spec.sort_key, type=_STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                time_to_live_attribute=spec.ttl_attribute,
                deletion_protection=True,
                removal_policy=RemovalPolicy.RETAIN,
            )
            for index in spec.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(name=index.partition_key, type=_STRING),
                    sort_key=(
                        dynamodb.Attribute(name=index.sort_key, type=_NUMBER if index.sort_key_number else _STRING)
                        if index.sort_key
                        else None
                    ),
                    projection_type=(
                        dynamodb.ProjectionType.KEYS_ONLY if index.keys_only else dynamodb.ProjectionType.ALL
                    ),
                )
            ssm.StringParameter(
                self,
                f"{_construct_id(spec)}Name",
                parameter_name=platform_table_name_parameter(spec.key),
                string_value=table.table_name,
                description=f"Name of the Oratio {spec.key} table (read by tenant stacks)",
            )
            self.tables[spec.key] = table
        CfnOutput(scope, Outputs.AGENTS_TABLE, value=self.tables["agents"].table_name)
        CfnOutput(scope, Outputs.CONVERSATIONS_TABLE, value=self.tables["conversations"].table_name)


class PlatformTableRefs(Construct):
    """A tenant stack's view of the platform tables: names resolved from SSM at deploy time
    (no cross-stack exports, no AWS call at synth), with helpers that grant item access limited
    to keys that start with the tenant's id (`dynamodb:LeadingKeys`)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self._names: dict[str, str] = {}
        self._arns: dict[str, str] = {}

    def name(self, spec: TableSpec) -> str:
        # Resolved on first use, so the template only carries parameters for tables it needs.
        if spec.key not in self._names:
            self._names[spec.key] = ssm.StringParameter.value_for_string_parameter(
                self, platform_table_name_parameter(spec.key)
            )
        return self._names[spec.key]

    def arn(self, spec: TableSpec) -> str:
        # Built once per table: every grant names it, and each build is two calls into the CDK's process.
        if spec.key not in self._arns:
            self._arns[spec.key] = Stack.of(self).format_arn(
                service="dynamodb", resource="table", resource_name=self.name(spec)
            )
        return self._arns[spec.key]

    def environment(self, *specs: TableSpec) -> dict[str, str]:
        """Environment variables naming the given tables (`ORATIO_TABLE_<KEY>`)."""
        return {spec.env_var: self.name(spec) for spec in specs}

    def grant_items(
        self,
        grantee: iam.IGrantable,
        spec: TableSpec,
        actions: list[str],
        leading_keys: list[str],
        *,
        index: str | None = None,
    ) -> None:
        """Allow `actions` on the table (or one of its indexes) only for items whose partition key
        matches `leading_keys` (StringLike patterns, e.g. "cozy-comfort#*")."""
        resource = self.arn(spec) + (f"/index/{index}" if index else "")
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[f"dynamodb:{a}" for a in actions],
                resources=[resource],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": leading_keys}},
            )
        )


def _construct_id(spec: TableSpec) -> str:
    return "".join(part.capitalize() for part in spec.key.split("_")) + "Table"


def grant_definition_reads(tables: PlatformTableRefs, grantee: iam.IGrantable, tenant_id: str) -> dict[str, str]:
    """Let a runtime read its tenant's agents' status and definition versions (items under the tenant's keys only);
    returns the environment naming the two tables."""
    tables.grant_items(grantee, AGENTS, ["GetItem"], [tenant_id])
    tables.grant_items(grantee, AGENT_DEFINITIONS, ["GetItem"], [f"{tenant_id}#*"])
    return tables.environment(AGENTS, AGENT_DEFINITIONS)
