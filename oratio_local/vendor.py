"""The product brief's example vendor request (Cozy Comfort Bedding), and a vendor service over the in-memory
adapters: shared by the local demo, the benchmarks and the tests so they all speak the same payload."""

from __future__ import annotations

import copy
from typing import Any

from oratio.adapters.memory import FixedClock
from oratio.adapters.memory_vendor import (
    MemoryAgentRepository,
    MemoryConversationReader,
    MemoryDocumentRepository,
    MemoryProvisioningJobRepository,
    MemoryRateLimiter,
    StaticTenantDirectory,
)
from oratio.adapters.vendor_aws import S3UploadSigner
from oratio.ports import Clock
from oratio.vendor.ports import TenantDeployment
from oratio.vendor.service import VendorService, VendorSettings

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
) -> VendorService:
    """A vendor service whose data lives in memory (benchmarks, unit tests); uploads are signed offline."""
    return VendorService(
        agents=MemoryAgentRepository(),
        jobs=MemoryProvisioningJobRepository(),
        documents=MemoryDocumentRepository(),
        conversations=MemoryConversationReader(),
        tenants=StaticTenantDirectory(deployments),
        uploads=S3UploadSigner(client=object()),
        rate_limiter=MemoryRateLimiter(),
        settings=settings,
        clock=clock or FixedClock.at_utc(2026, 11, 30, 12),
    )
