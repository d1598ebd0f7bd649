"""A field-by-field JSON diff of two definition versions: what a vendor reads before publishing one.

Paths are dotted (`character_config.tone`, `definition.facts.promo`), list items indexed
(`definition.tools.business_tools[0].url`). Lists of plain values (products, roles, topics) change as one value,
so reordering a list reads as one change rather than a cascade of index changes. A field that is null on one side
and absent on the other is the same "not set" both ways, and no change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ChangeKind = Literal["added", "removed", "changed"]


class FieldChange(BaseModel):
    """One field that differs: its path, how, and its value before and after (null when absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    path: str
    change: ChangeKind
    before: Any = None
    after: Any = None


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(item, Mapping | list) for item in value)


def diff_documents(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """Every field that differs between two JSON documents, in path order."""
    changes: list[FieldChange] = []
    _walk(before, after, "", changes)
    return changes


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _walk(before: Any, after: Any, path: str, changes: list[FieldChange]) -> None:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            where = _join(path, str(key))
            if key not in after:
                if before[key] is not None:
                    changes.append(FieldChange(path=where, change="removed", before=before[key]))
            elif key not in before:
                if after[key] is not None:
                    changes.append(FieldChange(path=where, change="added", after=after[key]))
            else:
                _walk(before[key], after[key], where, changes)
        return
    if _is_records(before) and _is_records(after):
        _walk_list(before, after, path, changes)
        return
    if before != after:
        changes.append(FieldChange(path=path, change="changed", before=before, after=after))


def _walk_list(before: Sequence[Any], after: Sequence[Any], path: str, changes: list[FieldChange]) -> None:
    for index in range(max(len(before), len(after))):
        where = f"{path}[{index}]"
        if index >= len(after):
            changes.append(FieldChange(path=where, change="removed", before=before[index]))
        elif index >= len(before):
            changes.append(FieldChange(path=where, change="added", after=after[index]))
        else:
            _walk(before[index], after[index], where, changes)


def diff_models(before: BaseModel, after: BaseModel) -> list[FieldChange]:
    """The diff of two models as they are stored (only the fields that were set)."""
    return diff_documents(
        before.model_dump(mode="json", exclude_unset=True), after.model_dump(mode="json", exclude_unset=True)
    )
