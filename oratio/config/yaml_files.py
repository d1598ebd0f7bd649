"""Reading YAML that people write (tenant files, the model catalog) so that no file can hang or crash the reader.

PyYAML's safe loader builds only plain data, but on its own it still accepts what a broken or hostile file can
do with plain data: aliases that expand to billions of values (a "billion laughs"), an alias inside its own
anchor (a cycle), nesting deep enough to exhaust Python's recursion, duplicate keys (the later one silently
wins) and any text encoding Python happens to decode. `load_yaml_file` bounds each of them structurally -- the
file's size, the nesting depth, the number of aliases and the number of values the document expands to are
counted while it is composed, before anything is built -- refuses duplicate keys and anything but UTF-8, and
raises `YamlFileError` naming the file, the line and what to fix.

PyYAML itself is imported on the first load (`oratio.config.yaml_loader`), not with this module: every Lambda
function imports the configuration models, few of them read a YAML file.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def load_yaml_text(
    text: str, path: Path | str = "<text>", *, limits: YamlLimits = DEFAULT_LIMITS, stats: LoadStats | None = None
) -> Any:
    """Parse one YAML document of plain data within `limits`; `YamlFileError` says where and why it cannot."""
    from oratio.config.yaml_loader import load_bounded  # PyYAML on first use (see the module docstring)

    return load_bounded(text, path, limits, stats if stats is not None else LoadStats())


def load_yaml_file(path: Path | str, *, limits: YamlLimits = DEFAULT_LIMITS, stats: LoadStats | None = None) -> Any:
    """Read a UTF-8 YAML file of plain data within `limits` (see the module docstring)."""
    path = Path(path)
    return load_yaml_text(_read_text(path, limits), path, limits=limits, stats=stats)
