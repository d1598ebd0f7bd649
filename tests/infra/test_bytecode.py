"""The byte-code Oratio ships is reproducible (same sources, same bytes, wherever they are built) and is what
the runtime imports: an unchecked-hash pyc is used without reading or checking its source."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from stacks.bytecode import compile_tree
from stacks.constructs.lambda_function import CORE_PACKAGE


def _pyc_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for pyc in sorted(folder.rglob("*.pyc")):
        digest.update(pyc.relative_to(folder).as_posix().encode() + pyc.read_bytes())
    return digest.hexdigest()


def test_the_same_sources_compile_to_the_same_bytes_in_different_folders(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "oratio", tmp_path / "elsewhere" / "deeper" / "oratio"
    for target in (first, second):
        shutil.copytree(CORE_PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
        assert compile_tree(target)
    assert next(first.rglob("*.pyc"), None) is not None
    assert _pyc_digest(first) == _pyc_digest(second)


def test_an_unchecked_pyc_is_imported_without_reading_its_source(tmp_path: Path) -> None:
    package = tmp_path / "shipped"
    package.mkdir()
    (package / "greeting.py").write_text("WORDS = 'compiled at build time'\n")
    assert compile_tree(package)
    # The source changes after the build (as a read-only deployment never would): the pyc still decides.
    (package / "greeting.py").write_text("WORDS = 'read from the source'\n")
    out = subprocess.run(  # noqa: S603 - our interpreter, a temporary module
        [
            sys.executable,
            "-I",
            "-B",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import greeting; print(greeting.WORDS)",
            str(package),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "compiled at build time"
