"""Loads a Lambda handler module from `lambdas/<folder>/handler.py` the way Lambda imports it."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
_loads = itertools.count()


def load_handler(folder: str) -> ModuleType:
    """Import the handler as a fresh module, as in a new Lambda container.

    Each call gives a new module (unique name), so state a handler builds on first use (clients,
    settings, caches) never leaks from one caller into another.
    """
    path = REPO / "lambdas" / folder / "handler.py"
    name = f"{folder}_handler_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
