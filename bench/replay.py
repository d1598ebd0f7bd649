"""Section `replay`: what one conversation script costs, run as `python -m oratio replay` runs it — the tenant's
synthesized flow, the real handlers, the Lex emulation, the agent on 127.0.0.1 with the local model, moto.

Per script: wall time and CPU time of the whole call (moto set-up, vendor API provisioning, every Lambda
invocation, agent turns, the garbage collection before the call), excluding the one-time synthesis (cached under
build/replay/) and the agent server's start. Each script runs twice; the second (warm imports) is reported. CPU
time is the steadier figure on a shared machine.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.stats import report

CALLS = Path(__file__).resolve().parents[1] / "calls"


def run() -> None:
    from oratio_local.replay.runner import ReplaySession, run_paths

    scripts = sorted(CALLS.glob("*/*.yaml"))
    print(f"replay: {len(scripts)} scripts under calls/ (second run of each; synthesis excluded)")
    walls: list[float] = []
    cpus: list[float] = []
    with ReplaySession() as session:
        started = time.perf_counter()
        session.prepare(sorted({p.parent.name for p in scripts}))
        print(f"  synthesis or cache load: {time.perf_counter() - started:.1f} s (once per run)")
        for path in scripts:
            run_paths(session, [path])
            cpu, wall = time.process_time(), time.perf_counter()
            (result,) = run_paths(session, [path])
            cpus.append(time.process_time() - cpu)
            walls.append(time.perf_counter() - wall)
            status = "ok  " if result.passed else "FAIL"
            print(f"  {status} {path.parent.name}/{path.stem:<40} wall {walls[-1]:.2f} s  cpu {cpus[-1]:.2f} s")
    report("per script, wall time", walls, "s")
    report("per script, CPU time (this process)", cpus, "s")
