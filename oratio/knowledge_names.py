"""Names of a tenant's knowledge resources, shared by the stack that makes them and the code that reads them
(the tenant agent is told them by its environment; AgentCreator's gate, a platform runtime, derives them)."""

from __future__ import annotations

import re

VECTOR_INDEX_NAME = "knowledge"  # the one index in each tenant's vector bucket
_VECTOR_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_PROJECT = "oratio"  # `stacks.names.PROJECT` (stacks import oratio, never the other way round)


def vector_bucket_name(tenant_id: str) -> str:
    """The tenant's vector bucket name: lowercase letters, digits and hyphens, 3-63 characters."""
    name = f"{_PROJECT}-{tenant_id}-vectors"
    if not _VECTOR_BUCKET_NAME.fullmatch(name):
        raise ValueError(
            f"vector bucket name {name!r} for tenant {tenant_id!r} breaks the S3 Vectors naming rules "
            "(3-63 lowercase letters, digits or hyphens, starting and ending with a letter or digit); "
            "use a shorter tenant_id"
        )
    return name
