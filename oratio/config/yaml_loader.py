"""The PyYAML half of `oratio.config.yaml_files`: the bounded safe loader and PyYAML's errors turned into
`YamlFileError`s. Imported on the first YAML load, so functions that never read a file never import PyYAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import CollectionNode, MappingNode, Node

from oratio.config.yaml_files import LoadStats, YamlFileError, YamlLimits

MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """Raised inside the loader at a position; turned into a `YamlFileError` with the file's name."""

    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts while it composes (depth, aliases, recursive aliases) and refuses duplicate keys
    while it constructs."""

    def __init__(self, text: str, limits: YamlLimits, stats: LoadStats) -> None:
        super().__init__(text)
        self._limits = limits
        self._stats = stats
        self._depth = 0
        self._open_anchors: set[str] = set()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            self._stats.aliases += 1
            if self._stats.aliases > self._limits.max_aliases:
                raise _Refused(
                    event.start_mark,
                    f"more than {self._limits.max_aliases} aliases (*name); write the values out instead",
                )
            if event.anchor in self._open_anchors:
                raise _Refused(
                    event.start_mark,
                    f"alias *{event.anchor} is inside the value its anchor &{event.anchor} names (a recursive "
                    "alias); an alias may only refer to a value that is already complete",
                )
            return super().compose_node(parent, index)
        self._stats.composed_nodes += 1
        if self._stats.composed_nodes > self._limits.max_values:
            raise _Refused(
                event.start_mark, f"the file holds more than {self._limits.max_values} values; split or shorten it"
            )
        collection = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        anchor = event.anchor if collection else None
        if collection:
            self._depth += 1
            if self._depth > self._limits.max_depth:
                raise _Refused(
                    event.start_mark,
                    f"nested deeper than {self._limits.max_depth} levels; flatten the structure",
                )
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            if anchor is not None:
                self._open_anchors.discard(anchor)
            if collection:
                self._depth -= 1

    def construct_document(self, node: Node) -> Any:
        _check_expansion(node, self._limits)
        self._stats.constructed = True
        return super().construct_document(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base constructor says so, with its position
                continue
            if first is not None:
                raise _Refused(
                    key_node.start_mark,
                    f"duplicate key {key!r} (first at line {first.line + 1}); keep one of them",
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, CollectionNode):
        return list(node.value)
    return []


def _check_expansion(root: Node, limits: YamlLimits) -> None:
    """Refuse a document whose aliases, written out, would exceed the value count or the depth.

    Sizes and depths are memoised per node, so the work is one visit per distinct node whatever the aliases
    multiply to; the walk is iterative because an alias chain can be longer than Python's recursion limit.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in size:
            continue
        children = _children(node)
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in size)
            continue
        size[key] = 1 + sum(size[id(child)] for child in children)
        depth[key] = 1 + max((depth[id(child)] for child in children), default=0)
        if size[key] > limits.max_values:
            raise _Refused(
                node.start_mark,
                f"this value expands to more than {limits.max_values} values once its aliases are written out "
                "(an alias bomb?); use fewer aliases",
            )
        if depth[key] > limits.max_depth:
            raise _Refused(
                node.start_mark,
                f"through its aliases this value is nested deeper than {limits.max_depth} levels; flatten it",
            )


# What to do about PyYAML's own complaints, by a phrase of its message; the fallback points at the position.
_SYNTAX_FIXES = (
    ("'\\t'", "indent with spaces, not tabs"),
    ("could not determine a constructor", "tags such as !!python/... are not allowed; write plain values"),
    ("expected a single document", "keep one document in the file (remove the extra '---')"),
    ("undefined alias", "define the anchor (&name) before the alias (*name) that uses it"),
    ("duplicate anchor", "give each anchor (&name) its own name"),
    ("unhashable key", "keys must be plain words or numbers, not lists or mappings"),
    ("mapping values are not allowed", "check this line's indentation, and quote values that contain ': '"),
    ("quoted scalar", "close the quote"),
    ("flow sequence", "close the list with ']' and separate its items with ','"),
    ("flow mapping", "close the mapping with '}' and separate its entries with ','"),
)


def _syntax_fix(problem: str) -> str:
    return next((fix for phrase, fix in _SYNTAX_FIXES if phrase in problem), "check the YAML syntax there")


def _line_of(text: str, position: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1


def load_bounded(text: str, path: Path | str, limits: YamlLimits, stats: LoadStats) -> Any:
    """Parse one YAML document of plain data within `limits`; `YamlFileError` says where and why it cannot."""
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text, limits, stats)  # checks the characters first (ReaderError)
        return loader.get_single_data()
    except _Refused as e:
        mark = e.mark
        raise YamlFileError(
            path, e.message, line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None
        ) from e
    except yaml.reader.ReaderError as e:
        line, column = _line_of(text, e.position)
        raise YamlFileError(
            path, f"character {e.character:#x} is not allowed in YAML; remove it", line=line, column=column
        ) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or "not valid YAML"
        if e.context:
            context_mark = e.context_mark
            at = f" at line {context_mark.line + 1}" if context_mark and context_mark is not mark else ""
            problem = f"{e.context}{at}, {problem}"
        raise YamlFileError(
            path,
            f"not valid YAML: {problem}; {_syntax_fix(problem)}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from e
    except yaml.YAMLError as e:
        raise YamlFileError(path, f"not valid YAML: {e}") from e
    finally:
        if loader is not None:
            loader.dispose()
