"""Staging code artifacts at synth without redoing work: each staged folder carries a digest of what it was
built from, an unchanged folder is not staged again, and the digest is the asset's hash, so the CDK does not
fingerprint thousands of vendored files on every synth.

- Our sources (handlers, `oratio`, `agentcore`): a sha256 over every file's path in the artifact and bytes.
- Vendored dependency folders: the stamp `scripts/bootstrap.sh` writes beside each (`<folder>.stamp`, the
  hash of its pinned requirements and build recipe), which names exactly what was installed.
- The byte-code recipe and the interpreter's version are part of every digest: the pyc files follow from them.

The large artifacts (the layer, the AgentCore code assets with their vendored packages: thousands of files,
up to ~150 MB) are handed to the CDK as reproducible zips, so synth copies one file per asset into the cloud
assembly instead of every file; a vendored folder is zipped once per stamp and the code added to a copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stacks.bytecode import can_compile_for_runtime

IGNORED_DIRS = frozenset({"__pycache__", "tests"})
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
# Changes whenever what staging puts in an artifact changes (so every artifact is staged again once).
RECIPE = "oratio-staging-2 (unchecked-hash byte-code)"


class MissingBuildError(RuntimeError):
    """A vendored folder has not been built; the message says how to build it."""


@dataclass(frozen=True)
class StagedAsset:
    """A staged artifact folder and the hash that identifies its content."""

    path: Path
    asset_hash: str


def _files(origin: Path) -> list[Path]:
    if origin.is_file():
        return [origin]
    return sorted(
        path
        for path in origin.rglob("*")
        if path.is_file() and path.suffix != ".pyc" and not IGNORED_DIRS.intersection(path.relative_to(origin).parts)
    )


def source_digest(entries: Sequence[tuple[Path, str]], *extra: str) -> str:
    """A digest of `(origin, path in the artifact)` entries, files or folders, plus `extra` strings."""
    digest = hashlib.sha256(RECIPE.encode())
    digest.update(f"{sys.version_info[0]}.{sys.version_info[1]} compiled={can_compile_for_runtime()}".encode())
    for part in extra:
        digest.update(b"\0extra\0" + part.encode())
    for origin, destination in entries:
        for path in _files(origin):
            inside = destination if origin.is_file() else f"{destination}/{path.relative_to(origin).as_posix()}"
            digest.update(b"\0" + inside.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def vendored_stamp(folder: Path) -> str:
    """The stamp `scripts/bootstrap.sh` wrote beside a vendored folder it built."""
    stamp = folder.with_name(folder.name + ".stamp")
    if not folder.is_dir() or not stamp.is_file():
        raise MissingBuildError(
            f"{folder} (or its stamp {stamp.name}) is missing: run `make setup` (scripts/bootstrap.sh) to build "
            "the vendored dependencies before synthesizing"
        )
    return stamp.read_text().strip()


def restage(target: Path, digest: str, build: Callable[[Path], None]) -> StagedAsset:
    """`target` built by `build(target)` unless it is already there from the same digest."""
    stamp = target.with_name(target.name + ".digest")
    if target.is_dir() and stamp.is_file() and stamp.read_text() == digest:
        return StagedAsset(target, digest)
    stamp.unlink(missing_ok=True)
    if target.exists():
        shutil.rmtree(target)
    build(target)
    stamp.write_text(digest)
    return StagedAsset(target, digest)


def copy_entries(entries: Sequence[tuple[Path, str]], target: Path) -> None:
    """Copy each `(origin, path in the artifact)` entry under `target` (sources only, no byte-code or tests)."""
    for origin, destination in entries:
        where = target / destination
        where.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, where, ignore=IGNORE, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, where)


# ------------------------------------------------------------------------------------------------ zips
# A fixed date and modes: a zip built from the same files is the same bytes, so its hash is stable.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_COMPRESSION = 6


def _zip_write(archive: zipfile.ZipFile, folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or IGNORED_DIRS.difference({"__pycache__"}).intersection(path.relative_to(folder).parts):
            continue
        info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=_ZIP_DATE)
        info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes(), compresslevel=_COMPRESSION)


def zip_folder(folder: Path, target: Path) -> Path:
    """`folder`'s files in a reproducible zip at `target` (written beside it, then moved into place)."""
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        _zip_write(archive, folder)
    partial.replace(target)
    return target


def vendored_zip(folder: Path) -> Path:
    """The vendored folder zipped once per stamp (`<folder>-<stamp>.zip` beside it); older zips are removed."""
    stamp = vendored_stamp(folder)
    target = folder.with_name(f"{folder.name}-{stamp}.zip")
    if not target.is_file():
        for old in folder.parent.glob(f"{folder.name}-*.zip"):
            old.unlink()
        zip_folder(folder, target)
    return target


def zip_with(base: Path, folder: Path, target: Path) -> Path:
    """A copy of the `base` zip with `folder`'s files added (the code on top of its vendored dependencies)."""
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(base, partial)
    with zipfile.ZipFile(partial, "a") as archive:
        _zip_write(archive, folder)
    partial.replace(target)
    return target
