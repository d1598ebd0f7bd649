"""Reading YAML that people write (tenant files, the model catalog) so that no file can hang or crash the reader.

PyYAML's safe loader builds only plain data, but on its own it still accepts what a broken or hostile file can
do with plain data: aliases that expand to billions of values (a "billion laughs"), an alias inside its own
anchor (a cycle), nesting deep enough to exhaust Python's recursion, duplicate keys (the later one silently
wins) and any text encoding Python happens to decode. `load_yaml_file` bounds each of them structurally -- the
file's size, the nesting depth, the number of aliases and the number of values the document expands to are
counted while it is composed, before anything is built -- refuses duplicate keys and anything but UTF-8, and
raises `YamlFileError` naming the file, the line and what to fix.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import CollectionNode, MappingNode, Node

MERGE_TAG = "tag:yaml.org,2002:merge"
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


@dataclass(frozen=True)
class YamlLimits:
    """How much one file may ask of the reader. A tenant file is a few KiB with no aliases, so each limit
    is far above honest use and far below what would take the reader noticeable time."""

    max_bytes: int = 128 * 1024
    max_depth: int = 32
    max_aliases: int = 64
    max_values: int = 20_000  # scalars and collections, counted as if every alias were written out


DEFAULT_LIMITS = YamlLimits()


@dataclass
class LoadStats:
    """What one load did, for tests that bound the work structurally instead of timing it."""

    composed_nodes: int = 0
    aliases: int = 0
    constructed: bool = False


class YamlFileError(ValueError):
    """A YAML file that cannot be read as plain data; the message names the file, the line and the fix."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None, column: int | None = None) -> None:
        where = f"line {line}, column {column}: " if line is not None and column is not None else ""
        where = f"line {line}: " if line is not None and column is None else where
        super().__init__(f"{path}: {where}{message}")
        self.path = str(path)
        self.line = line
        self.column = column
        self.problem = message


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


def _read_text(path: Path, limits: YamlLimits) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(limits.max_bytes + 1)
    except OSError as e:
        raise YamlFileError(path, f"cannot read the file ({e.strerror or type(e).__name__})") from e
    if len(data) > limits.max_bytes:
        raise YamlFileError(
            path, f"the file is larger than {limits.max_bytes // 1024} KiB; configuration files are small, split it"
        )
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            raise YamlFileError(path, f"the file is {encoding}-encoded; save it as UTF-8", line=1)
    if b"\x00" in data:
        at = data.index(b"\x00")
        raise YamlFileError(
            path,
            "the file contains NUL bytes (UTF-16 or UTF-32 text, or not text at all); save it as UTF-8 text",
            line=data.count(b"\n", 0, at) + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        raise YamlFileError(
            path,
            f"byte 0x{data[e.start]:02x} is not valid UTF-8; save the file as UTF-8",
            line=data.count(b"\n", 0, e.start) + 1,
            column=e.start - line_start + 1,
        ) from e


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


def load_yaml_text(
    text: str, path: Path | str = "<text>", *, limits: YamlLimits = DEFAULT_LIMITS, stats: LoadStats | None = None
) -> Any:
    """Parse one YAML document of plain data within `limits`; `YamlFileError` says where and why it cannot."""
    stats = stats if stats is not None else LoadStats()
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


def load_yaml_file(path: Path | str, *, limits: YamlLimits = DEFAULT_LIMITS, stats: LoadStats | None = None) -> Any:
    """Read a UTF-8 YAML file of plain data within `limits` (see the module docstring)."""
    path = Path(path)
    return load_yaml_text(_read_text(path, limits), path, limits=limits, stats=stats)
