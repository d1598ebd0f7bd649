"""What the AgentCore entrypoints say about a payload they refuse: each failing field and its problem, never the
submitted values (they may be personal data)."""

from __future__ import annotations

from pydantic import ValidationError


def field_problems(error: ValidationError) -> str:
    """`field.path: problem` for each failure, without the submitted values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or 'body'}: {err['msg']}"
        for err in error.errors(include_url=False, include_input=False)
    )
