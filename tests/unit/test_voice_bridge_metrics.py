"""The voice bridge's metric lines: CloudWatch Embedded Metric Format documents on stdout (what AgentCore Runtime
ships to the runtime's log group), in the tenant's namespace, with low-cardinality dimensions only."""

from __future__ import annotations

import json

import pytest

from oratio.voice_bridge.metrics import BridgeMetrics


def test_deployed_bridge_metrics_are_one_emf_json_line_each_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = BridgeMetrics("cozy-comfort", "agt-1", wall_clock=lambda: 1_700_000_000.5)
    metrics.turn_latency(812.34, speech="sonic", call_id="CA123")
    metrics.failover(to="cascaded", reason="session_failed", call_id="CA123")
    latency, failover = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert latency["_aws"] == {
        "Timestamp": 1_700_000_000_500,
        "CloudWatchMetrics": [
            {
                "Namespace": "Oratio/cozy-comfort",
                "Dimensions": [
                    ["service", "front_door"],
                    ["service", "front_door", "speech"],
                    ["service", "front_door", "agent"],
                ],
                "Metrics": [{"Name": "TurnLatency", "Unit": "Milliseconds"}],
            }
        ],
    }
    assert latency["TurnLatency"] == 812.3
    assert failover["BridgeFailovers"] == 1
    assert (failover["to"], failover["reason"], failover["agent"]) == ("cascaded", "session_failed", "agt-1")
    dimensions = {d for s in failover["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for d in s}
    assert "call_id" not in dimensions  # unbounded values stay properties
    assert "reason" not in dimensions


def test_silent_metrics_write_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    BridgeMetrics.silent().turn_latency(10, speech="sonic", call_id="c")
    assert capsys.readouterr().out == ""
