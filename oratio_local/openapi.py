"""Writes the vendor API's OpenAPI document, generated from its routes and models, to docs/openapi.json
(`make openapi`); a test fails when the committed file and the code disagree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oratio_local.lambdas import load_handler

REPO = Path(__file__).resolve().parents[1]
OPENAPI_PATH = REPO / "docs" / "openapi.json"


def generate() -> dict[str, Any]:
    document: dict[str, Any] = load_handler("vendor_api").openapi_schema()
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    OPENAPI_PATH.parent.mkdir(exist_ok=True)
    OPENAPI_PATH.write_text(render(generate()), encoding="utf-8")
    print(f"wrote {OPENAPI_PATH.relative_to(REPO)}")


if __name__ == "__main__":
    main()
