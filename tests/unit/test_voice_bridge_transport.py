"""The voice bridge runs without aiohttp: it does not ship in the bridge's vendored dependencies
(agentcore/voice_bridge/requirements-clients.txt), so the bridge must import, build both SDK clients on
awscrt with aiohttp unimportable (`make bench`, section `bridge_first_call`, runs the vendored pins with ADOT."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# `sys.modules[name] = None` makes `import name` raise ImportError, as on the runtime where it is absent.
_WITHOUT_AIOHTTP = textwrap.dedent(
    """
    import asyncio, sys
    for name in ("aiohttp", "aiohappyeyeballs", "aiosignal", "frozenlist"):
        sys.modules[name] = None
    import agentcore.voice_bridge.app
    import agentcore.voice_bridge.wiring
    from oratio.adapters import nova_sonic, transcribe_streaming
    from oratio.voice_bridge.config import SonicSettings

    async def clients():
        keys = {"aws_access_key_id": "AKIDTEST", "aws_secret_access_key": "test"}
        sonic = await nova_sonic.build_client(SonicSettings(endpoint_uri="https://127.0.0.1:1"), **keys)
        transcribe = await transcribe_streaming.build_client("us-east-1", **keys)
        return type(sonic._config.transport).__name__, type(transcribe._config.transport).__name__

    print(*asyncio.run(clients()))
    """
)


def test_the_bridge_imports_and_builds_its_sdk_clients_without_aiohttp() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", _WITHOUT_AIOHTTP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["AWSCRTHTTPClient", "AWSCRTHTTPClient"]


def test_the_vendored_bridge_dependencies_hold_no_aiohttp_and_the_sdk_clients_need_nothing_unpinned() -> None:
    requirements = (ROOT / "agentcore" / "voice_bridge" / "requirements.txt").read_text()
    clients = (ROOT / "agentcore" / "voice_bridge" / "requirements-clients.txt").read_text()
    pinned = {line.split("==")[0].strip().lower() for line in requirements.splitlines() if "==" in line}
    for unused in ("aiohttp", "aiohappyeyeballs", "aiosignal", "frozenlist"):
        assert unused not in pinned
    assert {"aws-sdk-bedrock-runtime", "aws-sdk-transcribe-streaming"} <= {
        line.split("==")[0].strip() for line in clients.splitlines() if "==" in line
    }
    # What the clients are installed without (--no-deps) must be pinned beside them, except their aiohttp extra.
    for needed in ("smithy-http", "smithy-core", "smithy-aws-core", "smithy-aws-event-stream", "smithy-json", "yarl"):
        assert needed in pinned, f"{needed} is not pinned for the bridge"
