"""Real calls through the voice bridge, measured where the cost is: the bridge process.

Four processes, all on 127.0.0.1: this one plays Twilio-shaped callers (Media Streams messages over a
WebSocket, 20 ms μ-law frames in real time, the caller speaking then listening to the reply); the bridge
(`bench/voice_bridge_server.py`: the AgentCore app's `/ws` route under uvicorn, the real
`aws-sdk-bedrock-runtime` client over awscrt HTTP/2 + TLS); the Nova Sonic stand-in
(`python -m oratio_local.sonic_standin`: transcripts, a tool call, reply audio faster than real time); and
the tenant agent in local mode (`python -m agentcore.tenant_agent`), which answers the tool calls.

Printed, for 1 call and for N concurrent calls in one bridge process:
- CPU of the bridge process per call-second: its user + system CPU time (`resource.getrusage`) over the run
  divided by the seconds of call it carried. CPU time, not wall time, so other work on the machine does not
  inflate it; calls per core = 1 / that.
- memory per concurrent call: the bridge's peak resident memory during the N-call run above its resident
  memory before it (the process is warm: imports, TLS, clients), divided by N.
- added latency, Sonic audio chunk → the caller's first frame of that reply: from the moment the stand-in
  hands a reply's first audioOutput event to its HTTP/2 server to the moment this process reads the first
  Twilio `media` message of the reply (one monotonic clock across processes); it includes the stand-in's
  and this process's own scheduling, so it is an upper bound on the bridge's share. Also the bridge's own
  share (its SDK event received → its first frame handed to the WebSocket).

Not included: the agent's and the stand-in's CPU (their own processes), TLS to a real Sonic endpoint, and
the network between AWS regions.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
from websockets.asyncio.client import connect

from bench.stats import percentile, report_value
from oratio.voice_bridge.audio import pcm16_to_ulaw, silence
from oratio_local.sonic_standin import Scenario, ToolUse, Turn, tone

ROOT = Path(__file__).resolve().parents[1]
FRAME_SECONDS = 0.02
SPEAK_SECONDS = 0.8  # the caller's question
CYCLE_SECONDS = 4.0  # a question every 4 s: 0.8 s asked, ~0.2 s until Sonic answers, a reply of up to 2 s
REPLY_GAP_SECONDS = 0.2  # agent audio after at least this much none starts a new reply
CALL_SECONDS = 20.0
CONCURRENT_CALLS = 50
STARTUP_SECONDS = 60.0
# Goals of issue 13, printed beside the figures.
GOAL_CALLS_PER_CORE = 400
GOAL_CORE_SHARE_ONE_CALL = 0.02
GOAL_KIB_PER_CALL = 200
GOAL_P99_MS = 5.0

SCENARIO = Scenario(
    turns=[
        Turn(heard="Do you have a queen down comforter?", reply="We do, in two weights.", reply_seconds=2.0),
        Turn(
            heard="What is your return policy?",
            reply="Here is what I found: {tool_summary}",
            tool=ToolUse(name="knowledge_search", arguments={"query": "return policy"}),
            reply_seconds=2.0,
        ),
        Turn(heard="Thanks, that's all.", reply="You're welcome, goodbye!", reply_seconds=1.5),
    ],
    loop_per_session=True,
)
_CALL_IN_PROMPT = re.compile(r"\(bench call (\S+)\)")


# ----------------------------------------------------------------------------------------- processes
@contextlib.contextmanager
def child(args: list[str], *, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    """A child process that prints one JSON line when ready and stops when its standard input closes."""
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our modules
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        stdout: TextIO = process.stdout  # type: ignore[assignment]
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"{' '.join(args)} exited before it was ready")
        yield process, json.loads(line)
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def agent_process() -> Iterator[str]:
    """The tenant agent in local mode on a free loopback port; yields its base URL once it answers /ping."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "ORATIO_LOCAL_MODE": "1",
        "ORATIO_TENANT_ID": "cozy-comfort",
        "ORATIO_TENANTS_DIR": str(ROOT / "tenants"),
        "ORATIO_AGENT_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "agentcore.tenant_agent"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("the tenant agent did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


# -------------------------------------------------------------------------------------------- callers
@dataclass
class CallerRecord:
    call_sid: str
    started: float = 0.0
    ended: float = 0.0
    frames_heard: int = 0
    reply_starts: list[float] = field(default_factory=list)  # time.monotonic() of each reply's first frame

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def _media(stream_sid: str, sequence: int, ulaw: bytes) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(sequence),
            "media": {
                "track": "inbound",
                "chunk": str(sequence),
                "timestamp": str(sequence * 20),
                "payload": base64.b64encode(ulaw).decode(),
            },
            "streamSid": stream_sid,
        }
    )


async def one_call(url: str, call_sid: str, seconds: float) -> CallerRecord:
    """A Twilio-shaped caller: asks, listens to the whole reply, pauses, asks again, for `seconds`."""
    record = CallerRecord(call_sid)
    stream_sid = "MZ" + call_sid[2:]
    frame = 160 * 2
    speech = tone(8_000, SPEAK_SECONDS, frequency=220.0, amplitude=8_000)
    spoken = [pcm16_to_ulaw(speech[i : i + frame]) for i in range(0, len(speech), frame)]
    quiet = pcm16_to_ulaw(silence(8_000, FRAME_SECONDS))
    last_media = 0.0
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "ACbench",
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"caller": "+15551234567"},
        },
        "streamSid": stream_sid,
    }
    async with connect(url, compression=None, max_size=None) as ws:

        async def listen() -> None:
            nonlocal last_media
            async for message in ws:
                if isinstance(message, str) and message.startswith('{"event":"media"'):
                    now = time.monotonic()
                    if now - last_media >= REPLY_GAP_SECONDS:
                        record.reply_starts.append(now)
                    last_media = now
                    record.frames_heard += 1

        listener = asyncio.create_task(listen())
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps(start))
        record.started = begin = time.monotonic()
        sequence, sent = 1, 0
        cycle = round(CYCLE_SECONDS / FRAME_SECONDS)
        while time.monotonic() - begin < seconds:
            due = begin + sent * FRAME_SECONDS
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            # A fixed timeline (ask, then listen until the next cycle), so every run carries the same work.
            position = sent % cycle
            payload = spoken[position] if position < len(spoken) else quiet
            sequence += 1
            await ws.send(_media(stream_sid, sequence, payload))
            sent += 1
        stop = {"event": "stop", "sequenceNumber": str(sequence + 1), "stop": {"callSid": call_sid}}
        await ws.send(json.dumps({**stop, "streamSid": stream_sid}))
        record.ended = time.monotonic()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(listener, 5)
        listener.cancel()
    return record


async def calls(url: str, count: int, seconds: float, prefix: str) -> list[CallerRecord]:
    """`count` concurrent calls, their starts spread over a second so they do not tick in lockstep."""

    async def staggered(n: int) -> CallerRecord:
        await asyncio.sleep(n / max(count, 1))
        return await one_call(url, f"CA{prefix}{n:05d}", seconds)

    return list(await asyncio.gather(*(staggered(n) for n in range(count))))


# -------------------------------------------------------------------------------------------- a run
@dataclass
class RunFigures:
    calls: int
    call_seconds: float
    cpu_seconds: float
    kib_per_call: float
    bridge_latencies: list[float]
    records: list[CallerRecord]

    @property
    def cpu_per_call_second(self) -> float:
        return self.cpu_seconds / self.call_seconds


async def measured_run(bridge_url: str, count: int, seconds: float, prefix: str) -> RunFigures:
    ws_url = bridge_url.replace("http://", "ws://") + "/ws"
    async with httpx.AsyncClient(base_url=bridge_url, timeout=10) as http:
        before = (await http.get("/bench/usage")).json()
        peak = before["rss_kib"]
        run = asyncio.create_task(calls(ws_url, count, seconds, prefix))
        while not run.done():
            await asyncio.wait({run}, timeout=1.0)
            peak = max(peak, (await http.get("/bench/usage")).json()["rss_kib"])
        records = run.result()
        for _ in range(100):  # the bridge finishes its calls (recorder flush, session close)
            after = (await http.get("/bench/usage")).json()
            if after["calls"] >= before["calls"] + count:
                break
            await asyncio.sleep(0.1)
    return RunFigures(
        calls=count,
        call_seconds=sum(r.seconds for r in records),
        cpu_seconds=after["cpu_seconds"] - before["cpu_seconds"],
        kib_per_call=(peak - before["rss_kib"]) / count,
        bridge_latencies=after["latencies"][len(before["latencies"]) :],
        records=records,
    )


def end_to_end_latencies(records: list[CallerRecord], sessions: list[dict[str, Any]]) -> list[float]:
    """Each reply: the stand-in's first audioOutput of it → the caller's first frame of it (the first reply
    start the caller saw after it, within one question cycle; a reply never heard in that time is left out)."""
    sent: dict[str, list[float]] = {}
    for session in sessions:
        found = _CALL_IN_PROMPT.search(session.get("system_prompt", ""))
        if found:
            sent.setdefault(found.group(1), []).extend(session["reply_audio_at"])
    latencies = []
    for record in records:
        heard = sorted(record.reply_starts)
        for at in sorted(sent.get(record.call_sid, [])):
            first = next((start for start in heard if start >= at), None)
            if first is not None and first - at < CYCLE_SECONDS:
                latencies.append(first - at)
    return latencies


# ------------------------------------------------------------------------------------------- report
def _latency_line(name: str, samples: list[float]) -> None:
    if not samples:
        print(f"  {name:<58} no samples")
        return
    print(
        f"  {name:<58} p50 {statistics.median(samples) * 1e3:7.2f} ms   p99 {percentile(samples, 99) * 1e3:7.2f} ms"
        f"   n={len(samples)}"
    )


def _verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def print_run(label: str, figures: RunFigures, end_to_end: list[float]) -> None:
    share = figures.cpu_per_call_second
    print(f"  -- {label}: {figures.calls} call(s), {figures.call_seconds:.0f} call-seconds")
    report_value("bridge CPU per call-second (% of one core)", share * 100, "%")
    report_value("calls one core carries at this load (1 / that)", 1 / share, "calls")
    if figures.calls > 1:
        report_value("bridge memory per concurrent call", figures.kib_per_call, "KiB")
    _latency_line("Sonic audio chunk → caller's first frame (end to end)", end_to_end)
    _latency_line("  of which in the bridge (SDK event → frame to the socket)", figures.bridge_latencies)
    heard = sum(r.frames_heard for r in figures.records)
    replies = sum(len(r.reply_starts) for r in figures.records)
    talking = heard * FRAME_SECONDS / figures.call_seconds
    print(f"  {'caller heard':<58} {heard} frames in {replies} replies (agent talking {talking:.0%} of the call)")


IDLE_SECONDS = 5.0


async def idle_share(bridge_url: str) -> float:
    """The bridge process's CPU with no call at all, as a share of one core (its fixed cost)."""
    async with httpx.AsyncClient(base_url=bridge_url, timeout=10) as http:
        before = (await http.get("/bench/usage")).json()["cpu_seconds"]
        await asyncio.sleep(IDLE_SECONDS)
        after = (await http.get("/bench/usage")).json()["cpu_seconds"]
    return float(after - before) / IDLE_SECONDS


async def _runs(bridge_url: str, count: int, seconds: float) -> tuple[float, RunFigures, RunFigures]:
    await measured_run(bridge_url, 1, 4.0, "warm")  # imports, TLS, clients: not counted
    idle = await idle_share(bridge_url)
    one = await measured_run(bridge_url, 1, seconds, "one")
    many = await measured_run(bridge_url, count, seconds, "many")
    return idle, one, many


def run(count: int = CONCURRENT_CALLS, seconds: float = CALL_SECONDS, bridge_settings: str = "{}") -> None:
    print(
        f"voice bridge, real calls (Twilio caller ⇄ bridge ⇄ aws-sdk-bedrock-runtime ⇄ Sonic stand-in; "
        f"{seconds:.0f} s calls; CPU is process CPU time)"
    )
    # Latencies are wall-clock: they grow with what else the machine runs; CPU time does not.
    print(f"  (machine load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the start)")
    with tempfile.TemporaryDirectory(prefix="oratio-voice-bench-") as tmp:
        scenario_file, report_file = Path(tmp) / "scenario.json", Path(tmp) / "sessions.json"
        scenario_file.write_text(SCENARIO.model_dump_json())
        with agent_process() as agent_url:
            standin_args = ["-m", "oratio_local.sonic_standin", "--scenario", str(scenario_file)]
            with child([*standin_args, "--report", str(report_file)]) as (_, sonic):
                bridge_args = [
                    "-m",
                    "bench.voice_bridge_server",
                    "--sonic-endpoint",
                    sonic["endpoint"],
                    "--sonic-ca",
                    sonic["ca_file"],
                    "--agent-url",
                    agent_url,
                    "--settings",
                    bridge_settings,
                ]
                with child(bridge_args) as (bridge, ready):
                    print(f"  (bridge pid {bridge.pid})")
                    idle, one, many = asyncio.run(_runs(ready["url"], count, seconds))
        sessions = json.loads(report_file.read_text())
    report_value("bridge process with no call (% of one core)", idle * 100, "%")
    print_run("one call per process", one, end_to_end_latencies(one.records, sessions))
    many_e2e = end_to_end_latencies(many.records, sessions)
    print_run(f"{count} calls per process", many, many_e2e)
    print("  goals (issue 13):")
    calls_per_core = 1 / many.cpu_per_call_second
    print(f"    ≥ {GOAL_CALLS_PER_CORE} calls per core at {count} per process: {_verdict(calls_per_core >= 400)}")
    print(
        f"    ≤ {GOAL_CORE_SHARE_ONE_CALL:.0%} of a core at one call per process: "
        f"{_verdict(one.cpu_per_call_second <= GOAL_CORE_SHARE_ONE_CALL)}"
    )
    print(f"    ≤ {GOAL_KIB_PER_CALL} KiB per concurrent call: {_verdict(many.kib_per_call <= GOAL_KIB_PER_CALL)}")
    p99 = percentile(many_e2e, 99) * 1e3 if many_e2e else float("inf")
    print(f"    added latency p99 ≤ {GOAL_P99_MS:g} ms at {count} calls (end to end): {_verdict(p99 <= GOAL_P99_MS)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="real calls through the voice bridge")
    parser.add_argument("--calls", type=int, default=CONCURRENT_CALLS)
    parser.add_argument("--seconds", type=float, default=CALL_SECONDS)
    parser.add_argument("--bridge-settings", default="{}", help="BridgeSettings overrides as JSON")
    args = parser.parse_args()
    run(args.calls, args.seconds, args.bridge_settings)


if __name__ == "__main__":
    main()
