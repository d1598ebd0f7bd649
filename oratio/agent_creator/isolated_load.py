"""Loads a generated `agent.py` in a separate interpreter and returns the `AgentSpec` it declares, as JSON.

The child is `python -I` (no environment variables, no user site, no script directory on the path) with an
environment holding nothing but PATH and a locale (no credentials, no proxies), resource limits on CPU time,
address space, file size and open files (`resource.setrlimit`, set before it reads the module), and a
wall-clock timeout. Inside, the module runs with builtins that import only the allowlisted modules. It answers one
JSON line on stdout: `{"spec": {...}}` or `{"error": "..."}`. Run as a program, this file is the child.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CHILD_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class LoadLimits:
    cpu_seconds: int = 10
    memory_bytes: int = 1024 * 1024 * 1024
    wall_seconds: float = 30.0
    max_open_files: int = 64
    max_output_bytes: int = 256_000


class IsolatedLoadError(Exception):
    """The module could not be loaded in isolation; the message says why (safe to show a vendor)."""


def _limit(limits: LoadLimits) -> None:
    """Runs in the child before it reads the module (not as a `preexec_fn`, which is unsafe in a threaded parent:
    the AgentCreator runtime serves HTTP on threads)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))


def load_in_isolation(source: str, allowed_imports: dict[str, frozenset[str]], limits: LoadLimits | None = None,
                      spec_name: str = "SPEC") -> dict[str, Any]:  # fmt: skip
    """The spec `source` declares under `spec_name`, as JSON data, loaded in a limited child interpreter."""
    limits = limits or LoadLimits()
    request = json.dumps({"source": source, "allowed": {m: sorted(n) for m, n in allowed_imports.items()},
                          "spec_name": spec_name, "limits": limits.__dict__})  # fmt: skip
    try:
        done = subprocess.run(  # noqa: S603  # a fixed program with fixed arguments; the module text goes on stdin
            [sys.executable, "-I", str(Path(__file__).resolve()), str(REPO_ROOT)],
            input=request.encode(),
            capture_output=True,
            env=CHILD_ENV,
            timeout=limits.wall_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise IsolatedLoadError(f"loading agent.py took longer than {limits.wall_seconds:g} s") from e
    out = done.stdout[: limits.max_output_bytes].decode("utf-8", "replace").strip().splitlines()
    if done.returncode != 0 or not out:
        if done.returncode < 0:
            raise IsolatedLoadError(f"loading agent.py was stopped by signal {-done.returncode} (a resource limit)")
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise IsolatedLoadError(f"loading agent.py failed (exit {done.returncode}): {tail[0][:300]}")
    try:
        answer = json.loads(out[-1])
    except json.JSONDecodeError as e:
        raise IsolatedLoadError("loading agent.py did not answer JSON") from e
    if "error" in answer:
        raise IsolatedLoadError(str(answer["error"])[:500])
    spec = answer.get("spec")
    if not isinstance(spec, dict):
        raise IsolatedLoadError("loading agent.py did not answer a spec")
    return spec


def _child(repo_root: str) -> None:
    import builtins

    request = json.loads(sys.stdin.read())
    _limit(LoadLimits(**request["limits"]))
    allowed: dict[str, list[str]] = request["allowed"]
    sys.path.insert(0, repo_root)
    real_import = builtins.__import__

    def guarded_import(name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level != 0 or name not in allowed or not fromlist or any(n not in allowed[name] for n in fromlist):
            raise ImportError(f"agent.py may not import {name} {list(fromlist or [])}")
        return real_import(name, globals_, locals_, fromlist, level)

    safe = {k: getattr(builtins, k) for k in ("True", "False", "None", "dict", "list", "tuple", "str", "int",
                                              "float", "bool", "set", "frozenset", "len", "range")}  # fmt: skip
    safe["__import__"] = guarded_import
    namespace: dict[str, Any] = {"__name__": "agent_py", "__builtins__": safe}
    try:
        from oratio.agent_definitions.spec import AgentSpec

        exec(compile(request["source"], "agent.py", "exec"), namespace)  # noqa: S102  # checked, limited, isolated
        spec = namespace.get(request["spec_name"])
        if not isinstance(spec, AgentSpec):
            raise TypeError(f"agent.py must assign an AgentSpec to {request['spec_name']}")
        print(json.dumps({"spec": spec.model_dump(mode="json", exclude_unset=True)}))
    except Exception as e:  # the child answers every failure as JSON; the parent decides
        print(json.dumps({"error": f"{type(e).__name__}: {str(e)[:400]}"}))


if __name__ == "__main__":
    _child(sys.argv[1])
