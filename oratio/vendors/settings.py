"""The vendor API function's environment: the variable names the CDK construct sets and the handler reads
(one definition for both), validated into `ApiSettings` on first invocation."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from oratio.tables import (
    AGENT_DEFINITIONS,
    AGENTS,
    CONVERSATIONS,
    CUSTOMER_CONTEXT,
    KNOWLEDGE_DOCUMENTS,
    NUMBERS,
    PROVISIONING_JOBS,
    TENANT_STATE,
    table_settings,
)

IDEMPOTENCY_TABLE_ENV_VAR = "ORATIO_IDEMPOTENCY_TABLE"
MAX_BODY_BYTES_ENV_VAR = "ORATIO_MAX_BODY_BYTES"
RATE_LIMIT_ENV_VAR = "ORATIO_RATE_LIMIT_PER_MINUTE"
TENANT_PARAMETER_PREFIX_ENV_VAR = "ORATIO_TENANT_PARAMETER_PREFIX"
DELETED_RETENTION_ENV_VAR = "ORATIO_DELETED_RETENTION_DAYS"
VENDOR_TABLES = (
    AGENTS,
    AGENT_DEFINITIONS,
    CONVERSATIONS,
    PROVISIONING_JOBS,
    TENANT_STATE,
    KNOWLEDGE_DOCUMENTS,
    CUSTOMER_CONTEXT,
    NUMBERS,
)


class ApiSettings(BaseModel):
    """The function's environment, validated on first invocation."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    agents_table: str = Field(min_length=1)
    agent_definitions_table: str = Field(min_length=1)
    conversations_table: str = Field(min_length=1)
    provisioning_jobs_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    knowledge_documents_table: str = Field(min_length=1)
    numbers_table: str = Field(min_length=1)
    idempotency_table: str = Field(min_length=1)
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    rate_limit_per_minute: int = Field(default=100, gt=0)
    deleted_retention_days: int = Field(default=30, gt=0)
    tenant_parameter_prefix: str = "/oratio/tenants"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if environ is None else environ
        values = {
            **table_settings(
                env,
                AGENTS,
                AGENT_DEFINITIONS,
                CONVERSATIONS,
                PROVISIONING_JOBS,
                TENANT_STATE,
                KNOWLEDGE_DOCUMENTS,
                NUMBERS,
            ),
            "idempotency_table": env.get(IDEMPOTENCY_TABLE_ENV_VAR),
            "max_body_bytes": env.get(MAX_BODY_BYTES_ENV_VAR),
            "rate_limit_per_minute": env.get(RATE_LIMIT_ENV_VAR),
            "deleted_retention_days": env.get(DELETED_RETENTION_ENV_VAR),
            "tenant_parameter_prefix": env.get(TENANT_PARAMETER_PREFIX_ENV_VAR),
        }
        return cls.model_validate({k: v for k, v in values.items() if v is not None})
