"""The vendor side of the local mode: the product brief's example request (Cozy Comfort Bedding), a request built
from a tenant's business profile, a vendor service over the in-memory adapters, and the vendor API Lambda over
local AWS for the demo."""

from __future__ import annotations

import copy
from typing import Any

from oratio.adapters.memory import FixedClock, InMemoryNumberRegistry
from oratio.adapters.memory_vendor import (
    MemoryAgentRepository,
    MemoryConversationReader,
    MemoryDocumentMetadata,
    MemoryDocumentRepository,
    MemoryProvisioningJobRepository,
    MemoryRateLimiter,
    StaticTenantDirectory,
)
from oratio.adapters.vendor_aws import S3UploadSigner
from oratio.config import TenantConfig
from oratio.ports import Clock
from oratio.vendors.models import Tone
from oratio.vendors.ports import TenantDeployment
from oratio.vendors.service import VendorService, VendorSettings

_BRIEF_AGENT: dict[str, Any] = {
    "name": "Cozy Comfort Bedding Agent",
    "description": "AI agent for Cozy Comfort Bedding store",
    "business_type": "retail",
    "channels": ["instagram", "whatsapp", "facebook", "twitter", "voice"],
    "character_config": {
        "business_name": "Cozy Comfort Bedding",
        "products": ["bedding_sets", "pillows", "comforters", "duvets"],
        "specialties": ["bedding", "home_decor", "sleep_products"],
        "tone": "friendly_helpful",
        "knowledge_base": {
            "product_catalog": "bedding_products.json",
            "return_policy": "30-day returns",
            "shipping_info": "Free shipping over $50",
        },
    },
    "context": {"store_hours": "9 AM - 6 PM EST", "contact_info": "+1-555-BEDDING", "website": "cozycomfort.com"},
}


def brief_agent_request(**overrides: Any) -> dict[str, Any]:
    """The brief's `POST /api/v1/agents` body (a fresh copy), with top-level keys replaced by `overrides`."""
    return {**copy.deepcopy(_BRIEF_AGENT), **overrides}


def memory_vendor_service(
    deployments: dict[str, TenantDeployment] | None = None,
    *,
    settings: VendorSettings | None = None,
    clock: Clock | None = None,
    numbers: InMemoryNumberRegistry | None = None,
) -> VendorService:
    """A vendor service whose data lives in memory (benchmarks, unit tests); uploads are signed offline. Each
    deployment's Connect number is registered to its tenant, as its tenant stack does at deploy."""
    if numbers is None:
        numbers = InMemoryNumberRegistry(
            {d.phone_number: tenant for tenant, d in (deployments or {}).items() if d.phone_number is not None}
        )
    agents = MemoryAgentRepository()
    return VendorService(
        agents=agents,
        versions=agents.definitions,
        jobs=MemoryProvisioningJobRepository(),
        documents=MemoryDocumentRepository(),
        conversations=MemoryConversationReader(),
        tenants=StaticTenantDirectory(deployments),
        uploads=S3UploadSigner(client=object()),
        metadata=MemoryDocumentMetadata(),
        rate_limiter=MemoryRateLimiter(),
        numbers=numbers,
        settings=settings,
        clock=clock or FixedClock.at_utc(2026, 11, 30, 12),
    )


def agent_request_for(tenant: TenantConfig) -> dict[str, Any]:
    """A `POST /api/v1/agents` body for a tenant, from its business profile (what a vendor's console would send)."""
    business = tenant.business
    facts = {
        key: value
        for key, value in (("return_policy", business.policies.returns), ("shipping_info", business.policies.shipping))
        if value
    }
    context = {"contact_info": business.contact.phone, "website": str(business.website) if business.website else None}
    return {
        "name": f"{business.name} Agent",
        "description": f"AI agent for {business.name}",
        "business_type": business.business_type,
        "channels": [c.value for c in tenant.channels],
        "character_config": {
            "business_name": business.name,
            "products": list(business.products),
            "specialties": list(business.specialties),
            "tone": business.tone if business.tone in {t.value for t in Tone} else Tone.FRIENDLY_HELPFUL.value,
            "knowledge_base": facts,
        },
        "context": {k: v for k, v in context.items() if v},
    }


class LocalVendorApi:
    """The vendor API Lambda handler over local AWS (moto), with the tenant's stack "deployed": the parameters its
    TenantStack would publish are written to (local) SSM first. For the demo; tests use tests/vendor_api_harness."""

    IDEMPOTENCY_TABLE = "oratio-local-idempotency"

    def __init__(self, tenant: TenantConfig, dynamodb: Any, table_names: dict[str, str], *, phone_number: str) -> None:
        import os

        import boto3

        from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
        from oratio.domain.numbers import NumberClaim, NumberKind
        from oratio.tables import ALL_TABLES, NUMBERS
        from oratio.vendors.settings import IDEMPOTENCY_TABLE_ENV_VAR
        from oratio_local.dynamodb import create_idempotency_table
        from oratio_local.lambdas import load_handler

        self.tenant = tenant
        create_idempotency_table(dynamodb, self.IDEMPOTENCY_TABLE)
        for spec in ALL_TABLES:
            os.environ[spec.env_var] = table_names[spec.key]
        os.environ[IDEMPOTENCY_TABLE_ENV_VAR] = self.IDEMPOTENCY_TABLE
        ssm = boto3.client("ssm")
        instance = f"arn:aws:connect:us-east-1:000000000000:instance/{tenant.tenant_id}-local"
        published = {
            "connect/instance-arn": instance,
            "connect/chat-flow-arn": f"{instance}/contact-flow/chat-local",
            "channels/webhook-url": f"https://{tenant.tenant_id}-channels.lambda-url.us-east-1.on.aws/",
            "connect/phone-number": phone_number,
            "limits/max-agents": str(tenant.limits.max_agents),
        }
        for name, value in published.items():
            ssm.put_parameter(Name=f"/oratio/tenants/{tenant.tenant_id}/{name}", Value=value, Type="String")
        # ...and the number registry entries its NumberClaims construct writes: the Connect number and the tenant
        # file's bridge numbers.
        self._numbers = DynamoDBNumberRegistry(table_names[NUMBERS.key], client=dynamodb)
        self._numbers.claim(
            NumberClaim(number=phone_number, tenant_id=tenant.tenant_id, kind=NumberKind.CONNECT, claimed_by="local")
        )
        for number in tenant.voice.bridge_numbers:
            self.register_bridge_number(number)
        self.handler = load_handler("vendor_api")

    def register_bridge_number(self, number: str) -> None:
        """What the operator's `scripts/phone_numbers.py register <tenant> <number>` does: a Twilio/Vonage number
        becomes the tenant's, so a vendor may give it to an agent."""
        from oratio.domain.numbers import NumberClaim, NumberKind

        self._numbers.claim(
            NumberClaim(number=number, tenant_id=self.tenant.tenant_id, kind=NumberKind.BRIDGE, claimed_by="local")
        )

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        raw_body: str | None = None,
    ) -> Any:
        import io
        import json
        from contextlib import redirect_stdout

        from oratio_local.events import api_gateway_event, lambda_context

        event = api_gateway_event(
            method, path, body=body, raw_body=raw_body, vendor_id=self.tenant.tenant_id, headers=headers
        )
        with redirect_stdout(io.StringIO()):  # the handler's EMF metrics belong to CloudWatch
            response = self.handler.lambda_handler(event, lambda_context("vendor_api"))
        if response["statusCode"] >= 400:
            raise RuntimeError(f"{method} {path} answered {response['statusCode']}: {response['body']}")
        return json.loads(response["body"])
