"""`make bench`: prints Oratio's figures. Run on an idle machine; figures vary with load.

Sections: synth, call router, ... (each module's `run()`).
"""

from __future__ import annotations

import os
import platform
import sys
import warnings

from bench import (
    agent,
    agent_creator,
    bridge_first_call,
    channels,
    cold_start,
    cold_start_instructions,
    definitions,
    faults,
    ingestion,
    operations,
    replay,
    router,
    routing,
    synth,
    vendor_api,
    voice_bridge,
    voice_calls,
    voice_turn,
)

# One line per section, in the order they print; `python -m bench <name> ...` runs only those named.
SECTIONS = (
    ("synth", synth),
    ("cold_start", cold_start),
    ("cold_start_instructions", cold_start_instructions),
    ("router", router),
    ("agent", agent),
    ("definitions", definitions),
    ("routing", routing),
    ("voice", voice_turn),
    ("voice_calls", voice_calls),
    ("bridge_first_call", bridge_first_call),
    ("voice_bridge", voice_bridge),
    ("vendor_api", vendor_api),
    ("ingestion", ingestion),
    ("faults", faults),
    ("operations", operations),
    ("replay", replay),
    ("channels", channels),
    ("agent_creator", agent_creator),
)
# Sections too slow for every `make bench` (valgrind): run only when named.
ON_REQUEST = frozenset({"cold_start_instructions"})


def main() -> None:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OratioBench")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # Powertools warns when a timed call adds no metric; that is expected here and would garble the table.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    print(f"Oratio benchmarks — Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    only = set(sys.argv[1:])
    for name, module in SECTIONS:
        if name in only or (not only and name not in ON_REQUEST):
            print()
            module.run()


if __name__ == "__main__":
    main()
