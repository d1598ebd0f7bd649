"""The voice bridge's CloudWatch metrics, as Embedded Metric Format (EMF) log lines.

The bridge runs on AgentCore Runtime, which publishes no metric for a bridge turn; what the runtime writes to
stdout goes to its CloudWatch log group, and CloudWatch Logs extracts the metrics a JSON line declares under
`_aws.CloudWatchMetrics` (the EMF specification). So each turn's latency (the caller's final transcript, the
speech model's end-of-turn, to the first frame of audio back on the wire) and each failover (Sonic to cascaded
speech, cascaded to the apology) is one JSON line, in the tenant's namespace `Oratio/<tenant_id>` like the
tenant's Lambdas, with the `service` and `front_door` dimensions the dashboard reads.

Dimensions stay low-cardinality: `speech` (sonic | cascaded), `to` (cascaded | apology), and `agent` (bounded by
the tenant's `limits.max_agents`) in a dimension set of its own for drilling down; never the call id (it goes in
the line as a plain property, for CloudWatch Logs Insights, and costs no metric).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

SERVICE = "voice_bridge"
FRONT_DOOR = "bridge"
TURN_LATENCY = "TurnLatency"
FAILOVERS = "BridgeFailovers"
# The dimension sets of each metric (each set is a metric of its own in CloudWatch).
TURN_LATENCY_DIMENSIONS = (
    ("service", "front_door"),
    ("service", "front_door", "speech"),
    ("service", "front_door", "agent"),
)
FAILOVER_DIMENSIONS = (("service", "front_door", "to"), ("service", "front_door", "agent"))

Sink = Callable[[str], None]


def tenant_metrics_namespace(tenant_id: str) -> str:
    """Where a tenant's functions and its voice bridge publish metrics (one namespace per tenant)."""
    return f"Oratio/{tenant_id}"


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def emf_line(
    namespace: str,
    metric: str,
    unit: str,
    value: float,
    dimension_sets: Sequence[Sequence[str]],
    properties: dict[str, Any],
    *,
    timestamp_ms: int,
) -> str:
    """One EMF document: the metric `metric` = `value` under every dimension set, the properties at the root."""
    document = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(s) for s in dimension_sets],
                    "Metrics": [{"Name": metric, "Unit": unit}],
                }
            ],
        },
        **properties,
        metric: value,
    }
    return json.dumps(document, separators=(",", ":"))


class BridgeMetrics:
    """Writes the bridge's metrics for one tenant's agent; `sink` takes each line (stdout when deployed)."""

    def __init__(
        self,
        tenant_id: str,
        agent_id: str,
        *,
        sink: Sink | None = _stdout,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.namespace = tenant_metrics_namespace(tenant_id)
        self._agent_id = agent_id
        self._sink = sink
        self._wall_clock = wall_clock

    @classmethod
    def silent(cls) -> BridgeMetrics:
        """Metrics that go nowhere (local runs and benches, where stdout is the person's terminal)."""
        return cls("local", "local", sink=None)

    def _emit(self, metric: str, unit: str, value: float, sets: Sequence[Sequence[str]], **extra: Any) -> None:
        if self._sink is None:
            return
        properties = {"service": SERVICE, "front_door": FRONT_DOOR, "agent": self._agent_id, **extra}
        timestamp = int(self._wall_clock() * 1000)
        self._sink(emf_line(self.namespace, metric, unit, value, sets, properties, timestamp_ms=timestamp))

    def turn_latency(self, milliseconds: float, *, speech: str, call_id: str) -> None:
        """The caller's turn ended (final transcript) → the first frame of audio back went out."""
        self._emit(TURN_LATENCY, "Milliseconds", round(milliseconds, 1), TURN_LATENCY_DIMENSIONS, speech=speech,
                   call_id=call_id)  # fmt: skip

    def failover(self, *, to: str, reason: str, call_id: str) -> None:
        """The call's speech moved down the ladder (`to`: cascaded or apology)."""
        self._emit(FAILOVERS, "Count", 1, FAILOVER_DIMENSIONS, to=to, reason=reason, call_id=call_id)
