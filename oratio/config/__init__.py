"""Validated configuration: tenant files and the model catalog. Defaults live here, in one place."""

from oratio.config.catalog import EmbeddingModel, ModelCatalog, ModelEntry, load_model_catalog
from oratio.config.tenant import (
    TenantConfig,
    TenantConfigError,
    load_tenant_file,
    load_tenants,
)

__all__ = [
    "EmbeddingModel",
    "ModelCatalog",
    "ModelEntry",
    "TenantConfig",
    "TenantConfigError",
    "load_model_catalog",
    "load_tenant_file",
    "load_tenants",
]
