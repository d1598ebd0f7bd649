"""The observability construct: each alarm watches the right metric at the right threshold and notifies the
tenant's topic; the dashboards show what an operator on call needs; every tenant function publishes in the
tenant's namespace."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import assertions
from aws_cdk.assertions import Match

from oratio.config import load_tenant_file
from stacks.app_builder import TENANTS_DIR, new_app
from stacks.constructs.observability import tenant_metrics_namespace
from tests.infra.conftest import TENANT_ID

TENANT = load_tenant_file(TENANTS_DIR / f"{TENANT_ID}.yaml")
NAMESPACE = tenant_metrics_namespace(TENANT_ID)


def _alarm(template: assertions.Template, metric: str, **dimensions: str) -> dict[str, Any]:
    """The one alarm on `metric` in the tenant's namespace with exactly these dimensions."""
    alarms = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"MetricName": metric}})
    matching = [
        a["Properties"]
        for a in alarms.values()
        if a["Properties"]["Namespace"] == NAMESPACE
        and {d["Name"]: d["Value"] for d in a["Properties"].get("Dimensions", [])} == dimensions
    ]
    assert len(matching) == 1, f"expected one alarm on {metric} {dimensions}, found {len(matching)}"
    return matching[0]


def _topic_ref(template: assertions.Template) -> str:
    [topic] = template.find_resources("AWS::SNS::Topic").keys()
    return topic


@pytest.mark.parametrize(
    ("metric", "dimensions", "statistic", "threshold"),
    [
        ("RouterFailures", {"service": "call_router"}, "Sum", 1),
        ("BreakerChanges", {"service": "voice_turn", "dependency": "agent", "state": "open"}, "Sum", 1),
        ("TurnLatency", {"service": "voice_turn", "front_door": "connect", "part": "agent"}, "p99", 3000),
        ("TurnLatency", {"service": "voice_bridge", "front_door": "bridge"}, "p90", 1500),
    ],
)
def test_alarms_watch_the_metric_at_the_threshold_and_notify_the_tenants_topic(
    tenant_template: assertions.Template,
    metric: str,
    dimensions: dict[str, str],
    statistic: str,
    threshold: float,
) -> None:
    alarm = _alarm(tenant_template, metric, **dimensions)
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions
    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    if statistic.startswith("p"):  # a percentile
        assert alarm["ExtendedStatistic"] == statistic
        assert alarm["EvaluationPeriods"] == TENANT.operations.latency_alarm_periods
    else:
        assert alarm["Statistic"] == statistic
    topic = _topic_ref(tenant_template)
    assert alarm["AlarmActions"] == [{"Ref": topic}]
    assert alarm["OKActions"] == [{"Ref": topic}]
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "Check first" in alarm["AlarmDescription"]


def test_budget_alarms_fire_at_80_and_100_percent_of_the_tenants_budget(tenant_template: assertions.Template) -> None:
    alarms = tenant_template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "MonthToDateSpendUsd", "Namespace": NAMESPACE}}
    )
    thresholds = sorted(a["Properties"]["Threshold"] for a in alarms.values())
    budget = TENANT.agent.monthly_budget_usd
    assert thresholds == [budget * 0.8, budget]
    for alarm in alarms.values():
        assert alarm["Properties"]["Statistic"] == "Maximum"
        assert alarm["Properties"]["Period"] == 3600
        assert "GET /api/v1/usage" in alarm["Properties"]["AlarmDescription"]


def test_dead_letter_queues_alarm_as_soon_as_one_message_waits(tenant_template: assertions.Template) -> None:
    alarms = tenant_template.find_resources(
        "AWS::CloudWatch::Alarm",
        {"Properties": {"MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS"}},
    )
    assert len(alarms) == 3  # the call events', the knowledge ingestion's and the channel worker's
    for alarm in alarms.values():
        assert alarm["Properties"]["Threshold"] == 1
        assert "redrive" in alarm["Properties"]["AlarmDescription"]


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(tenant_template: assertions.Template) -> None:
    tenant_template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": Match.object_like({"Fn::GetAtt": Match.any_value()})}
    )
    tenant_template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            }
        },
    )


def test_every_tenant_function_publishes_metrics_in_the_tenants_namespace(tenant_template: assertions.Template) -> None:
    functions = tenant_template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Environment": {"Variables": {"POWERTOOLS_SERVICE_NAME": Match.any_value()}}}},
    )
    assert len(functions) >= 6
    for function in functions.values():
        assert function["Properties"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE


def test_the_tenant_dashboard_shows_routes_latency_models_breakers_and_spend(
    tenant_template: assertions.Template,
) -> None:
    [dashboard] = tenant_template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in (
        "ContactsRouted",
        "LiveCalls",
        "TurnLatency",
        "p99",
        "ModelTurns",
        "ToolCalls",
        "BreakerChanges",
        "Degradations",
        "Handoffs",
        "MonthToDateSpendUsd",
        "max_concurrent_calls",
        "monthly budget",
    ):
        assert needle in body, needle


def _dashboard_metrics(template: assertions.Template) -> list[list[Any]]:
    """Every metric line of the tenant dashboard's graphs: [namespace, name, dimension, value, ..., {options}]."""
    [dashboard] = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    text = (
        "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1]) if isinstance(body, dict) else body
    )
    widgets = json.loads(text)["widgets"]
    return [m for w in widgets for m in w["properties"].get("metrics", []) if isinstance(m[0], str)]


def test_the_tenant_dashboard_graphs_bridge_latency_and_failovers_as_the_bridge_emits_them(
    tenant_template: assertions.Template,
) -> None:
    from oratio.voice_bridge import metrics as bridge

    emitted = {
        bridge.TURN_LATENCY: {frozenset(s) for s in bridge.TURN_LATENCY_DIMENSIONS},
        bridge.FAILOVERS: {frozenset(s) for s in bridge.FAILOVER_DIMENSIONS},
    }
    graphed: dict[str, list[dict[str, str]]] = {bridge.TURN_LATENCY: [], bridge.FAILOVERS: []}
    for line in _dashboard_metrics(tenant_template):
        namespace, name, *rest = line
        pairs = [p for p in rest if isinstance(p, str)]
        dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
        if name in graphed and dimensions.get("service") == "voice_bridge":
            assert namespace == NAMESPACE
            # Each graphed series is one the bridge's EMF lines create (same dimension set), else it stays empty.
            assert frozenset(dimensions) in emitted[name], dimensions
            graphed[name].append(dimensions)
    assert {d.get("speech") for d in graphed[bridge.TURN_LATENCY]} == {None, "sonic", "cascaded"}
    assert {d["to"] for d in graphed[bridge.FAILOVERS]} == {"sonic", "cascaded", "apology"}


def test_the_bridge_latency_alarm_follows_the_tenants_target() -> None:
    from aws_cdk import Stack

    from oratio.config.tenant import TenantConfig
    from stacks.constructs.observability import TenantObservability

    data = TENANT.model_dump(mode="json")
    data["operations"] = {"bridge_turn_latency_p90_target_ms": 900, "latency_alarm_periods": 3}
    stack = Stack(new_app())  # the project's App: CDK's built-in template validation off (stacks/nag.py)
    TenantObservability(stack, "Observability", tenant=TenantConfig.model_validate(data), dead_letter_queues={})
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "TurnLatency",
            "Namespace": NAMESPACE,
            "Dimensions": Match.array_with([{"Name": "service", "Value": "voice_bridge"}]),
            "ExtendedStatistic": "p90",
            "Threshold": 900,
            "EvaluationPeriods": 3,
            "AlarmDescription": Match.string_like_regexp("900 ms"),
        },
    )


def test_alarm_emails_from_the_tenant_file_are_subscribed() -> None:
    # A second tenant with two alarm e-mails, synthesized on its own (the session app has none)
    from aws_cdk import Stack

    from oratio.config.tenant import TenantConfig
    from stacks.constructs.observability import TenantObservability

    tenant = TenantConfig.model_validate(
        {
            **TENANT.model_dump(mode="json"),
            "operations": {"alarm_emails": ["ops@cozycomfort.com", "cto@cozycomfort.com"]},
        }
    )
    stack = Stack(new_app())  # the project's App: CDK's built-in template validation off (stacks/nag.py)
    TenantObservability(stack, "Observability", tenant=tenant, dead_letter_queues={})
    template = assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Subscription", 2)
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@cozycomfort.com"})


def test_the_platform_alarms_on_vendor_api_5xx_and_shows_requests_latency_and_ingestion(
    platform_template: assertions.Template,
) -> None:
    platform_template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/ApiGateway",
            "MetricName": "5XXError",
            "Dimensions": Match.array_with([Match.object_like({"Name": "Stage", "Value": Match.any_value()})]),
            "Threshold": 5,
            "AlarmActions": [{"Ref": Match.string_like_regexp("^ObservabilityAlarmTopic")}],
        },
    )
    [dashboard] = platform_template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in ("4XXError", "5XXError", "Latency", "p99", "DocumentsIndexed"):
        assert needle in body, needle


def _alarm_named(template: assertions.Template, name: str) -> dict[str, Any]:
    found = [
        a["Properties"]
        for logical_id, a in template.find_resources("AWS::CloudWatch::Alarm").items()
        if logical_id.startswith(f"Observability{name}Alarm")
    ]
    assert len(found) == 1, f"expected one alarm {name}, found {len(found)}"
    return found[0]


def test_the_channel_workers_dead_letter_queue_alarms_as_soon_as_one_customer_message_waits(
    tenant_template: assertions.Template,
) -> None:
    alarm = _alarm_named(tenant_template, "ChannelDeadLetters")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Maximum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    [queue] = alarm["Dimensions"]
    queue_id = queue["Value"]["Fn::GetAtt"][0]
    resources = tenant_template.to_json()["Resources"]
    assert resources[queue_id]["Properties"]["FifoQueue"] is True
    redrives = [r for r in resources.values() if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]]
    assert any(
        r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [queue_id, "Arn"]} for r in redrives
    )
    topic = _topic_ref(tenant_template)
    assert alarm["AlarmActions"] == [{"Ref": topic}]
    assert alarm["OKActions"] == [{"Ref": topic}]
    assert "Check first the channel_worker log group" in alarm["AlarmDescription"]


def test_a_burst_of_refused_webhook_deliveries_on_any_path_alarms_at_the_tenants_threshold(
    tenant_template: assertions.Template,
) -> None:
    from oratio.channels.settings import OTHER_WEBHOOK_PATH, WEBHOOK_PATHS

    alarm = _alarm_named(tenant_template, "ChannelWebhookRejections")
    assert alarm["Threshold"] == TENANT.operations.webhook_rejections_alarm_threshold
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    (total,) = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    parts = [m for m in alarm["Metrics"] if not m.get("ReturnData", True)]
    assert total["Expression"] == f"SUM([{', '.join(m['Id'] for m in parts)}])"
    watched = set()
    for part in parts:
        stat = part["MetricStat"]
        metric = stat["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == (NAMESPACE, "ChannelWebhookRejected")
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dims["service"] == "channel_webhook"
        watched.add(dims["path"])
        assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
    assert watched == {*WEBHOOK_PATHS, OTHER_WEBHOOK_PATH}, "every path the webhook counts a refusal under"
    topic = _topic_ref(tenant_template)
    assert alarm["AlarmActions"] == [{"Ref": topic}]
    assert "Check first the channel_webhook log group" in alarm["AlarmDescription"]


def test_the_webhook_refusal_alarm_follows_the_tenants_threshold() -> None:
    from aws_cdk import Stack

    from oratio.config.tenant import TenantConfig
    from stacks.constructs.observability import TenantObservability

    data = TENANT.model_dump(mode="json")
    data["operations"] = {"webhook_rejections_alarm_threshold": 7}
    stack = Stack(new_app())  # the project's App: CDK's built-in template validation off (stacks/nag.py)
    TenantObservability(stack, "Observability", tenant=TenantConfig.model_validate(data), dead_letter_queues={})
    alarm = _alarm_named(assertions.Template.from_stack(stack), "ChannelWebhookRejections")
    assert alarm["Threshold"] == 7
    assert "At least 7 channel webhook deliveries" in alarm["AlarmDescription"]
