"""Whose knowledge a search may see: the agent's own documents, plus the tenant-wide ones when its definition
says so. One description for everything that touches it:

- each document carries Bedrock knowledge-base metadata in a sidecar object `<key>.metadata.json` (the S3 data
  source's convention): `oratio_scope` = "agent" with `oratio_agent_id`, or "tenant" for the tenant file's
  `knowledge.sources` (uploaded at deploy under `tenant/`);
- a knowledge-base `Retrieve` filters with `vectorSearchConfiguration.filter` (`bedrock_filter`);
- a direct S3 Vectors `QueryVectors` filters the same attributes, which the knowledge base writes as filterable
  metadata on each vector (`s3vectors_filter`);
- the local lexical retriever tags its passages the same way (`Passage.agent_id`, None for tenant-wide).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

SCOPE_KEY = "oratio_scope"
AGENT_KEY = "oratio_agent_id"
AGENT_SCOPE = "agent"
TENANT_SCOPE = "tenant"
METADATA_SUFFIX = ".metadata.json"
TENANT_DOCUMENTS_PREFIX = "tenant"


class SearchScope(BaseModel):
    """One search's reach: `agent_id`'s documents, and the tenant-wide ones when `include_tenant_documents`."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    agent_id: str
    include_tenant_documents: bool = True

    def admits(self, document_agent_id: str | None) -> bool:
        """Whether a document of `document_agent_id` (None: tenant-wide) is in reach."""
        if document_agent_id is None:
            return self.include_tenant_documents
        return document_agent_id == self.agent_id


def sidecar_key(document_key: str) -> str:
    """Where a document's metadata sits: beside it, as the S3 data source expects."""
    return document_key + METADATA_SUFFIX


def is_sidecar(key: str) -> bool:
    return key.endswith(METADATA_SUFFIX)


def metadata_document(agent_id: str | None) -> dict[str, Any]:
    """The sidecar's content for an agent's document (or a tenant-wide one, `agent_id` None)."""
    if agent_id is None:
        return {"metadataAttributes": {SCOPE_KEY: TENANT_SCOPE}}
    return {"metadataAttributes": {SCOPE_KEY: AGENT_SCOPE, AGENT_KEY: agent_id}}


def bedrock_filter(scope: SearchScope) -> dict[str, Any]:
    """`RetrievalFilter` for the knowledge base's Retrieve."""
    own = {"equals": {"key": AGENT_KEY, "value": scope.agent_id}}
    if not scope.include_tenant_documents:
        return own
    return {"orAll": [own, {"equals": {"key": SCOPE_KEY, "value": TENANT_SCOPE}}]}


def s3vectors_filter(scope: SearchScope) -> dict[str, Any]:
    """The metadata filter of an S3 Vectors QueryVectors."""
    own = {AGENT_KEY: {"$eq": scope.agent_id}}
    if not scope.include_tenant_documents:
        return own
    return {"$or": [own, {SCOPE_KEY: {"$eq": TENANT_SCOPE}}]}
