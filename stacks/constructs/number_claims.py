"""The tenant's phone numbers, claimed for it in the platform's number registry (`numbers` table) at deploy.

One custom resource per number: the Amazon Connect number this stack claimed, and each Twilio/Vonage number of
the tenant file's `voice.bridge_numbers`. On create and update it sends the registry's claim transaction
(`oratio.adapters.dynamodb_numbers.claim_transaction`: the owner item conditioned on no other tenant holding the
number), so a deploy that would take another tenant's number fails instead of stealing its calls; on delete it
gives the number back (only if this tenant still holds it). Its policy allows the two item writes on the registry
only under this number's and this tenant's keys.
"""

from __future__ import annotations

import re

from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from oratio.adapters.dynamodb_numbers import claim_transaction, release_transaction
from oratio.config import TenantConfig
from oratio.domain.numbers import NumberClaim, NumberKind
from oratio.tables import NUMBERS
from stacks.constructs.data_tables import PlatformTableRefs
from stacks.names import tenant_stack_id

# The registry's owner item of another tenant's number fails the claim's condition: the transaction is cancelled.
TRANSACTION_CANCELLED = "TransactionCanceledException"


class NumberClaims(Construct):
    """Registers `connect_number` and the tenant file's bridge numbers to the tenant."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        tables: PlatformTableRefs,
        connect_number: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.claims: dict[str, cr.AwsCustomResource] = {}
        self._claim(tenant, tables, "ConnectNumber", connect_number, NumberKind.CONNECT)
        for number in tenant.voice.bridge_numbers:
            self._claim(tenant, tables, "BridgeNumber" + re.sub(r"\D", "", number), number, NumberKind.BRIDGE)

    def _claim(
        self, tenant: TenantConfig, tables: PlatformTableRefs, construct_id: str, number: str, kind: NumberKind
    ) -> None:
        table = tables.name(NUMBERS)
        # The Connect number is a deploy-time token, so the claim is built without validating it here; the
        # registry's adapter validates what it reads back.
        claim = NumberClaim.model_construct(
            number=number,
            tenant_id=tenant.tenant_id,
            kind=kind,
            claimed_by=f"stack:{tenant_stack_id(tenant.tenant_id)}",
        )
        register = cr.AwsSdkCall(
            service="DynamoDB",
            action="transactWriteItems",
            parameters={"TransactItems": claim_transaction(table, claim)},
            physical_resource_id=cr.PhysicalResourceId.of(f"{tenant.tenant_id}/{number}"),
        )
        self.claims[construct_id] = cr.AwsCustomResource(
            self,
            construct_id,
            on_create=register,
            on_update=register,
            on_delete=cr.AwsSdkCall(
                service="DynamoDB",
                action="transactWriteItems",
                parameters={"TransactItems": release_transaction(table, tenant.tenant_id, number)},
                # Released meanwhile (by the operator): nothing left to give back.
                ignore_error_codes_matching=TRANSACTION_CANCELLED,
            ),
            install_latest_aws_sdk=False,  # the runtime's bundled SDK has the call; no npm at deploy
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["dynamodb:PutItem", "dynamodb:DeleteItem"],
                        resources=[tables.arn(NUMBERS)],
                        conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [number, tenant.tenant_id]}},
                    )
                ]
            ),
        )
