"""Reading synthesized code assets, and what a shipped module's byte-code must be: compiled for python3.12
(the Lambda and AgentCore runtimes) and hash-based without source checks (`--invalidation-mode
unchecked-hash`), so imports never stat or re-read it."""

from __future__ import annotations

import zipfile
from pathlib import Path

# PEP 552 flags word: bit 0 = hash-based, bit 1 = check the source; 0b01 is "unchecked hash".
UNCHECKED_HASH = 0b01
PYTHON_312_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"


def _pyc_name(module: str) -> str:
    folder, _, name = module.rpartition("/")
    return f"{folder}/__pycache__/{name.removesuffix('.py')}.cpython-312.pyc".lstrip("/")


def _check_header(header: bytes, where: str) -> None:
    assert header[:4] == PYTHON_312_MAGIC, f"{where} is not CPython 3.12 byte-code"
    assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH, f"{where} is not an unchecked-hash pyc"


def assert_unchecked_pyc_for_python_3_12(source: Path) -> None:
    pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
    assert pyc.is_file(), f"{source} ships without python3.12 byte-code ({pyc.name} missing)"
    _check_header(pyc.read_bytes()[:16], str(pyc))


class ZippedAsset:
    """A file asset of the cloud assembly (`asset.<hash>.zip`), read without unpacking it."""

    def __init__(self, outdir: Path, s3_key: str) -> None:
        self.path = outdir / f"asset.{s3_key}"
        assert self.path.is_file(), f"zip asset {self.path} not in the cloud assembly"
        with zipfile.ZipFile(self.path) as archive:
            self.names = set(archive.namelist())
            self._small = {name: archive.read(name) for name in self.names if name.endswith((".py", ".pyc"))}

    def exists(self, path: str) -> bool:
        return path in self.names or any(name.startswith(path.rstrip("/") + "/") for name in self.names)

    def read_text(self, path: str) -> str:
        return self._small[path].decode()

    def glob_names(self, folder: str, suffix: str) -> list[str]:
        inside = (name.removeprefix(folder + "/") for name in self.names if name.startswith(folder + "/"))
        return sorted(name for name in inside if name.endswith(suffix) and "/" not in name)

    def assert_unchecked_pyc_for_python_3_12(self, module: str) -> None:
        pyc = _pyc_name(module)
        assert pyc in self.names, f"{module} ships without python3.12 byte-code ({pyc} missing)"
        _check_header(self._small[pyc][:16], pyc)
