"""The voice bridge's first call: a fresh bridge process, from its start to the first Nova Sonic session open
(from then on it can speak to the caller), and on to the first reply frame it could send.

The bridge runs as AgentCore runs it: `python -I -S -B` (nothing of the repository or the development
virtualenv importable, no byte-code written: AgentCore's code folder is read-only), its code asset exactly as
synth stages it (`build/agentcore/voice_bridge`: `main.py`, `agentcore/`, `oratio/`, with their byte-code),
copied read-only, first on `sys.path`, then its vendored dependencies, with the OTEL_* environment AgentCore
sets, so ADOT starts as `main.py` starts it on the runtime.

The vendored dependencies (`build/agentcore/voice_bridge_deps`) are arm64 wheels (awscrt, pydantic-core,
grpcio) that do not load on every development machine, so the bench installs the same pins for this machine
(`build/bench/bridge-deps-<machine>`) with the recipe `scripts/bootstrap.sh` uses (the agent's and the
bridge's requirements resolved, then the SDK clients `--no-deps`, byte-code compiled).

Milestones, each as wall time since the process was spawned and the process's own CPU time:
- interpreter up (the probe's first line);
- ADOT started (`oratio.tracing.configure_from_environment`, as `main.py`);
- the bridge imported: `agentcore.voice_bridge.app` and uvicorn (what `main.py` imports to serve `/ws`);
- the first call's code imported: the wiring and the modules its runner imports on the first call
  (`FIRST_CALL_MODULES`, kept beside `agentcore/voice_bridge/wiring.py`'s `BridgeRuntime`);
- the runtime's boto3 clients built, as `BridgeRuntime` builds them (the agent's, Polly's);
- the first Sonic session open: the Sonic client built (as the runner builds it on the first call; the
  Transcribe client waits for a fallback), the session opened to the Nova Sonic stand-in
  (`oratio_local.sonic_standin`, its own process, TLS over HTTP/2) with the opening events sent and the
  output stream answered;
- the first reply frame ready for the caller: a question (0.4 s of tone, then silence) sent in real time,
  the stand-in's first reply audio read and serialized as a Twilio media message. This adds the question
  and the stand-in's end-of-turn silence (200 ms), which a real Sonic replaces with its own.

Not included: AgentCore's microVM start and the runtime's own process start-up, the WebSocket handshake,
the DynamoDB reads of the agent's definition, the credential chain (static keys here; the runtime role on
AgentCore), TLS to a real Sonic endpoint.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cold_start import BENCH_BUILD, make_writable, read_only_copy
from stacks.bytecode import compile_tree

ROOT = Path(__file__).resolve().parents[1]
AGENT_REQUIREMENTS = ROOT / "agentcore" / "requirements.txt"
BRIDGE_REQUIREMENTS = ROOT / "agentcore" / "voice_bridge" / "requirements.txt"
BRIDGE_CLIENTS = ROOT / "agentcore" / "voice_bridge" / "requirements-clients.txt"
RUNS = 3
GOAL_SECONDS = 1.0  # issue 13: the bridge's first call ≤ 1 s before it can speak
# What the bridge's runner imports on its first call (agentcore/voice_bridge/wiring.py, BridgeRuntime).
FIRST_CALL_MODULES = (
    "agentcore.voice_bridge.wiring",
    "agentcore.tenant_agent.client",
    "oratio.adapters.polly",
    "oratio.adapters.dynamodb",
    "oratio.adapters.dynamodb_agent",
    "oratio.adapters.dynamodb_call_costs",
    "oratio.agent_definitions.dynamodb",
    "oratio.agent_definitions.source",
    "oratio.privacy",
    "oratio.transcripts",
    "oratio.adapters.nova_sonic",
    "oratio.voice_bridge.bridge",
    "oratio.voice_bridge.cascaded",
    "oratio.voice_bridge.metrics",
)
# What AgentCore Runtime sets for ADOT (its observability docs); the exporters point at a closed local port.
AGENTCORE_OTEL_ENVIRONMENT = {
    "OTEL_PYTHON_DISTRO": "aws_distro",
    "OTEL_PYTHON_CONFIGURATOR": "aws_configurator",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
    "OTEL_RESOURCE_ATTRIBUTES": "service.name=oratio-voice-bridge-bench",
    "AGENT_OBSERVABILITY_ENABLED": "true",
}

_PROBE = r"""
import sys, time
def mark(name):
    print(json.dumps({"mark": name, "at": time.monotonic(), "cpu": time.process_time()}), flush=True)
import json
sys.path[:0] = sys.argv[4:]
mark("interpreter up")
from oratio.tracing import configure_from_environment
configure_from_environment()
mark("ADOT started")
import agentcore.voice_bridge.app, uvicorn
mark("bridge imported (main.py, uvicorn)")
import importlib
for name in sys.argv[3].split(","):
    importlib.import_module(name)
mark("first call's code imported")
from agentcore.tenant_agent.client import AgentCoreAgentClient
from oratio.adapters import polly
AgentCoreAgentClient("arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/oratio_bench-1")
polly.polly_client("us-east-1")
mark("the runtime's boto3 clients built (agent, Polly)")
import asyncio
from pathlib import Path

async def call():
    from oratio.adapters import nova_sonic
    from oratio.voice_bridge.audio import silence
    from oratio.voice_bridge.config import SonicSettings
    from oratio.voice_bridge.frames import AgentAudio
    from oratio.voice_bridge.serializers import TwilioSerializer
    keys = {"aws_access_key_id": "AKIDBENCH", "aws_secret_access_key": "bench"}
    settings = SonicSettings(endpoint_uri=sys.argv[1])
    client = await nova_sonic.build_client(settings, ca_file=Path(sys.argv[2]), **keys)
    session = await nova_sonic.NovaSonicSessionFactory(client, settings, 8000).open("You are a bench.", [], ())
    mark("first Sonic session open")
    serializer = TwilioSerializer()
    serializer.deserialize(json.dumps({"event": "start", "start": {"streamSid": "MZbench", "callSid": "CAbench",
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
    tone = b"".join((3000 if i % 20 < 10 else -3000).to_bytes(2, "little", signed=True) for i in range(160))
    quiet = silence(8000, 0.02)

    async def speak():
        for n in range(100):
            await session.send_audio(tone if n < 20 else quiet)
            await asyncio.sleep(0.02)

    speaking = asyncio.create_task(speak())
    async for frame in session.frames():
        if isinstance(frame, AgentAudio):
            serializer.serialize_audio(frame.pcm[:320])
            mark("first reply frame ready for the caller")
            break
    speaking.cancel()
    await session.close()

asyncio.run(call())
"""


def host_bridge_deps() -> Path:
    """The bridge's pinned dependencies for this machine, built with bootstrap's recipe (resolved agent and
    bridge requirements, then the SDK clients without their dependencies, byte-code). Reused while the pins
    hold."""
    target = BENCH_BUILD / f"bridge-deps-{platform.machine()}"
    stamp = BENCH_BUILD / f"bridge-deps-{platform.machine()}.requirements"
    wanted = "".join(path.read_text() for path in (AGENT_REQUIREMENTS, BRIDGE_REQUIREMENTS, BRIDGE_CLIENTS))
    if target.is_dir() and stamp.exists() and stamp.read_text() == wanted:
        return target
    shutil.rmtree(target, ignore_errors=True)
    pip = (sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target))
    subprocess.run([*pip, "-r", str(BRIDGE_REQUIREMENTS)], check=True)  # noqa: S603 - our pinned files
    subprocess.run([*pip, "--no-deps", "-r", str(BRIDGE_CLIENTS)], check=True)  # noqa: S603
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    compile_tree(target, strict=False)
    stamp.write_text(wanted)
    return target


def staged_bridge_code() -> Path:
    from stacks.constructs.voice_bridge import ASSET_DIR, stage_bridge_code

    stage_bridge_code()
    return ASSET_DIR


def first_call(code: Path, deps: Path, sonic: dict[str, Any], *, adot: bool = True) -> list[dict[str, Any]]:
    """One fresh bridge process's milestones: name, wall seconds since spawn, its CPU seconds. `adot=False`:
    without AgentCore's OTEL_* environment (ADOT does not start), to show its share."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "AWS_REGION": "us-east-1"}
    env.update({"AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench"})  # no credential chain walk
    if adot:
        env.update(AGENTCORE_OTEL_ENVIRONMENT)
    args = [sys.executable, "-I", "-S", "-B", "-c", _PROBE, sonic["endpoint"], sonic["ca_file"]]
    args += [",".join(FIRST_CALL_MODULES), str(code), str(deps)]
    spawned = time.monotonic()
    result = subprocess.run(args, cwd=code, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"the bridge probe failed:\n{result.stderr[-3000:]}")
    marks = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"mark"')]
    return [{"mark": m["mark"], "wall": m["at"] - spawned, "cpu": m["cpu"]} for m in marks]


def run(runs: int = RUNS) -> None:
    from bench.voice_calls import child
    from oratio_local.sonic_standin import Scenario, Turn

    print(
        "voice bridge first call (fresh `python -I -S -B`, read-only staged code asset, the bridge's pins built "
        f"for {platform.machine()}, ADOT on; Sonic stand-in in its own process; median of {runs})"
    )
    print(f"  (machine load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the start)")
    deps, code = host_bridge_deps(), staged_bridge_code()
    scenario = Scenario(turns=[Turn(heard="Hello?", reply="Hello, how can I help?")], loop_per_session=True)
    with tempfile.TemporaryDirectory(prefix="oratio-first-call-") as tmp:
        scenario_file = Path(tmp) / "scenario.json"
        scenario_file.write_text(scenario.model_dump_json())
        frozen = read_only_copy(code, Path(tmp) / "code")
        try:
            with child(["-m", "oratio_local.sonic_standin", "--scenario", str(scenario_file)]) as (_, sonic):
                with_adot = [first_call(frozen, deps, sonic) for _ in range(runs)]
                without_adot = [first_call(frozen, deps, sonic, adot=False) for _ in range(runs)]
        finally:
            make_writable(frozen)
    print("  -- with ADOT, as on AgentCore (OTEL_* set):")
    opened = _print_milestones(with_adot)
    print("  -- without ADOT (no OTEL_* environment), for its share:")
    _print_milestones(without_adot)
    verdict = "meets" if opened <= GOAL_SECONDS else "MISSES"
    print(f"  goal (issue 13): first Sonic session open ≤ {GOAL_SECONDS:g} s of CPU after start, with ADOT: {verdict}")


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _print_milestones(samples: list[list[dict[str, Any]]]) -> float:
    """Print each milestone's median wall and CPU; return the median CPU seconds to the first session open."""
    for index, first in enumerate(samples[0]):
        wall = _median([sample[index]["wall"] for sample in samples])
        cpu = _median([sample[index]["cpu"] for sample in samples])
        print(f"  {first['mark']:<52} CPU {cpu * 1e3:7.0f} ms   wall since spawn {wall * 1e3:7.0f} ms")
    return _median([next(m["cpu"] for m in sample if m["mark"] == "first Sonic session open") for sample in samples])


if __name__ == "__main__":
    run()
