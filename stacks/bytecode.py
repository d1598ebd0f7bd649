"""Byte-code for the artifacts Oratio ships: the Lambda layer, each function bundle and the AgentCore code assets.

Lambda's code folders are read-only and AgentCore's are fresh per microVM, so a package shipped without
`__pycache__` is compiled again by every cold start. Each artifact is therefore compiled for its runtime
(CPython 3.12: pyc files are compatible across 3.12.x patch releases) when it is built:

- with `--invalidation-mode unchecked-hash`: the pyc records a hash of its source and the interpreter never
  checks it (nor any timestamp) on import, so nothing is stat'ed and nothing depends on file times;
- with `PYTHONHASHSEED=0` and the build folder stripped from the recorded file names: the same sources give
  the same bytes on any machine, so an artifact's hash is stable and an unchanged artifact is not re-uploaded.

`python -m stacks.bytecode FOLDER...` is what `scripts/bootstrap.sh` runs on the vendored dependency folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUNTIME_VERSION = (3, 12)  # Lambda python3.12 and AgentCore PYTHON_3_12


class BytecodeError(RuntimeError):
    """The folder could not be compiled; the message says what compileall reported."""


def can_compile_for_runtime() -> bool:
    """Only a 3.12 interpreter writes pyc files that the 3.12 runtimes read (other versions' are ignored)."""
    return sys.version_info[:2] == RUNTIME_VERSION


def compile_tree(folder: Path, *, strict: bool = True) -> bool:
    """Compile every .py under `folder` in place (`__pycache__/*.cpython-312.pyc`); False if this interpreter
    is not the runtime's version, in which case the artifact ships sources only (still correct, slower to start).
    `strict=False` for third-party folders: a wheel may carry a file that is not Python 3 (a template, a test
    fixture), which stays uncompiled as it would be anywhere."""
    if not can_compile_for_runtime():
        return False
    result = subprocess.run(  # noqa: S603 - this interpreter's compileall on our own build folder
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(folder),
            "-p",
            "/",
            str(folder),
        ],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and strict:
        raise BytecodeError(f"compiling {folder} failed:\n{(result.stdout + result.stderr)[-2000:]}")
    return True


def main(argv: list[str] | None = None) -> None:
    folders = [Path(arg) for arg in (argv if argv is not None else sys.argv[1:])]
    for folder in folders:
        if not compile_tree(folder, strict=False):
            print(
                f"[setup] {folder}: not compiled (this is Python {sys.version_info[0]}.{sys.version_info[1]}, "
                "the runtimes are 3.12); it ships as sources"
            )


if __name__ == "__main__":
    main()
