"""What an operator on call looks at and is woken by: a CloudWatch dashboard and alarms per tenant (with the
tenant's own SNS topic and e-mail subscriptions from `operations.alarm_emails`), and the platform's dashboard
and alarms for the vendor API and knowledge ingestion.

Tenant metrics come from the tenant's Lambdas in the namespace `Oratio/<tenant_id>` (Powertools EMF, with a
`service` dimension per function) and from its voice bridge on AgentCore Runtime (EMF lines on stdout,
`oratio/voice_bridge/metrics.py`); each alarm's description says what to check first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from oratio.channels.settings import OTHER_WEBHOOK_PATH, WEBHOOK_PATHS, WEBHOOK_REJECTED_METRIC
from oratio.config import TenantConfig
from oratio.domain.call_routing import Route
from oratio.voice_bridge import metrics as bridge_metrics
from oratio.voice_bridge.metrics import tenant_metrics_namespace

__all__ = ["PlatformObservability", "TenantObservability", "tenant_metrics_namespace"]

PERIOD = Duration.minutes(5)
BUDGET_PERIOD = Duration.hours(1)
ROUTES = tuple(route.value for route in Route)
CHANNELS = ("voice", "chat")
TOOL_PROBLEMS = ("error", "timeout", "denied")
BRIDGE_SPEECH = ("sonic", "cascaded")  # the bridge's speech rungs (a failover "to sonic" is a fresh Sonic session)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: its metric, when it fires, and what the person it wakes should check first."""

    name: str
    metric: cloudwatch.IMetric
    threshold: float
    description: str
    comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
    evaluation_periods: int = 1


def alarm_topic(scope: Construct, construct_id: str, *, display_name: str, emails: Sequence[str]) -> sns.Topic:
    """An encrypted SNS topic CloudWatch alarms may publish to, with an e-mail subscription per address."""
    key = kms.Key(
        scope,
        f"{construct_id}Key",
        description=f"Encrypts the {display_name} alarm topic",
        enable_key_rotation=True,
    )
    # CloudWatch publishes to an encrypted topic only when the key lets it (an AWS managed key cannot).
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        )
    )
    topic = sns.Topic(scope, construct_id, display_name=display_name, master_key=key, enforce_ssl=True)
    for email in emails:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic


def _alarms(scope: Construct, specs: Sequence[AlarmSpec], topic: sns.ITopic) -> dict[str, cloudwatch.Alarm]:
    alarms: dict[str, cloudwatch.Alarm] = {}
    for spec in specs:
        alarm = cloudwatch.Alarm(
            scope,
            f"{spec.name}Alarm",
            metric=spec.metric,
            threshold=spec.threshold,
            evaluation_periods=spec.evaluation_periods,
            comparison_operator=spec.comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=spec.description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
        alarm.add_ok_action(cw_actions.SnsAction(topic))
        alarms[spec.name] = alarm
    return alarms


class TenantObservability(Construct):
    """The tenant's dashboard, alarms and alarm topic.

    Public attributes: `namespace`, `topic`, `dashboard`, `alarms` (by name).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        channel_dead_letters: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        tid = tenant.tenant_id
        self.namespace = tenant_metrics_namespace(tid)
        self._tenant = tenant
        self._channel_dead_letters = channel_dead_letters
        self.topic = alarm_topic(
            self, "AlarmTopic", display_name=f"Oratio {tid} alarms", emails=tenant.operations.alarm_emails
        )
        self.alarms = _alarms(self, self._alarm_specs(dead_letter_queues), self.topic)
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"oratio-{tid}", widgets=self._widgets(dead_letter_queues)
        )

    def metric(
        self,
        name: str,
        service: str,
        *,
        statistic: str = "Sum",
        period: Duration = PERIOD,
        label: str | None = None,
        **dimensions: str,
    ) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={"service": service, **dimensions},
            statistic=statistic,
            period=period,
            label=label,
        )

    def bridge_metric(
        self, name: str, *, statistic: str = "Sum", label: str | None = None, **dimensions: str
    ) -> cloudwatch.Metric:
        """A metric of the voice bridge (its EMF lines: `service` voice_bridge, `front_door` bridge)."""
        dimensions = {"front_door": bridge_metrics.FRONT_DOOR, **dimensions}
        return self.metric(name, bridge_metrics.SERVICE, statistic=statistic, period=PERIOD, label=label, **dimensions)

    # ------------------------------------------------------------------------------------- alarms
    def _alarm_specs(self, dead_letter_queues: Mapping[str, sqs.IQueue]) -> list[AlarmSpec]:
        tenant = self._tenant
        target_ms = tenant.operations.turn_latency_p99_target_ms
        budget = tenant.agent.monthly_budget_usd
        specs = [
            AlarmSpec(
                "RouterFailures",
                self.metric("RouterFailures", "call_router"),
                1,
                "Callers are hearing the unavailable message because the call router failed. Check first the "
                "call_router log group for 'call routing failed' (data layer: DynamoDB throttling or access "
                "denied) or 'misconfigured' (the function's environment), then the failure_reason metadata.",
            ),
            AlarmSpec(
                "TurnLatencyP99",
                self.metric("TurnLatency", "voice_turn", statistic="p99", front_door="connect", part="agent"),
                target_ms,
                f"p99 agent time per Connect turn is over the tenant's target of {target_ms} ms: callers hear "
                "holding replies. Check first the agent's model mix (ModelTurns) and slow tools (ToolCalls timeout) "
                "on the dashboard, then the AgentCore runtime's traces for the slowest turns.",
                evaluation_periods=tenant.operations.latency_alarm_periods,
            ),
            AlarmSpec(
                "BridgeTurnLatencyP90",
                self.bridge_metric(bridge_metrics.TURN_LATENCY, statistic="p90"),
                tenant.operations.bridge_turn_latency_p90_target_ms,
                f"p90 voice bridge turn latency (the caller's final words to the first audio back) is over the "
                f"tenant's target of {tenant.operations.bridge_turn_latency_p90_target_ms} ms on Twilio/Vonage "
                "calls. Check first the bridge's failovers and its latency by speech (sonic or cascaded) on the "
                "dashboard, then the voice bridge runtime's oratio.turn spans for slow tool calls to the agent.",
                evaluation_periods=tenant.operations.latency_alarm_periods,
            ),
            AlarmSpec(
                "BreakerOpen",
                self.metric("BreakerChanges", "voice_turn", dependency="agent", state="open"),
                1,
                "The agent's circuit breaker opened: Connect callers go straight to a person. Check first the "
                "voice_agent_turn log group for 'agent turn failed' (the AgentCore runtime or its model), then "
                "the breaker#agent item in tenant_state.",
            ),
            AlarmSpec(
                "SpeechBreakerOpen",
                self.metric("BreakerChanges", "voice_turn", dependency="speech_to_speech", state="open"),
                1,
                "Nova Sonic speech-to-speech is off for new calls (cascaded voice instead). Check first the Lex "
                "bot's speech-to-speech locale and Bedrock access to the Sonic model, then the flow's bot errors.",
            ),
            *(
                AlarmSpec(
                    f"{name}DeadLetters",
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                    1,
                    f"Events of {name} could not be processed and wait in its dead-letter queue. Check first the "
                    f"function's log group for the failure, fix it, then redrive the queue's messages.",
                )
                for name, queue in dead_letter_queues.items()
            ),
            *(
                AlarmSpec(
                    f"Budget{round(fraction * 100)}Percent",
                    self.metric("MonthToDateSpendUsd", "call_router", statistic="Maximum", period=BUDGET_PERIOD),
                    round(budget * fraction, 2),
                    f"The month's spend reached {fraction:.0%} of the ${budget:,.0f} budget"
                    + (
                        ": new calls now go to the human queue and messages get the budget reply. "
                        if fraction >= 1
                        else f"; from {tenant.budget.step_down_at:.0%} turns use cheaper models. "
                    )
                    + "Check first the vendor API's usage by category and agent (GET /api/v1/usage), then raise "
                    "agent.monthly_budget_usd if the spend is expected.",
                )
                for fraction in tenant.budget.alarm_fractions
            ),
            AlarmSpec(
                "ChannelWebhookRejections",
                self.webhook_rejections(),
                tenant.operations.webhook_rejections_alarm_threshold,
                f"At least {tenant.operations.webhook_rejections_alarm_threshold} channel webhook deliveries in "
                "5 minutes were refused (no or a wrong signature): either a platform's app secret changed and "
                "customers' messages are being dropped, or someone is probing the webhook URL. Check first the "
                "channel_webhook log group's 'channel webhook refused' lines (which path, 401 or 403) against the "
                "dashboard's refusals by path; if one platform's deliveries all fail, re-link that channel with "
                "the current app secret (PUT /api/v1/agents/{agent_id}/channels/{channel}).",
            ),
        ]
        if self._channel_dead_letters is not None:
            specs.append(
                AlarmSpec(
                    "ChannelDeadLetters",
                    self._channel_dead_letters.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum"
                    ),
                    1,
                    "Customer messages on WhatsApp, Instagram, Messenger or X that the channel worker failed to "
                    "answer after every retry wait in its dead-letter queue: those customers got no reply. Check "
                    "first the channel_worker log group for the failure (the agent runtime, the platform's send "
                    "API refusing, missing credentials), fix it, then redrive the queue's messages (or have a "
                    "person answer them: each body names the channel, account and sender).",
                )
            )
        return specs

    def webhook_rejections(self) -> cloudwatch.MathExpression:
        """Refused webhook deliveries in 5 minutes, over every path the webhook counts them by."""
        paths = (*WEBHOOK_PATHS, OTHER_WEBHOOK_PATH)
        by_path = {
            f"p{n}": self.metric(WEBHOOK_REJECTED_METRIC, "channel_webhook", path=path, label=path)
            for n, path in enumerate(paths)
        }
        return cloudwatch.MathExpression(
            expression=f"SUM([{', '.join(by_path)}])",
            using_metrics=by_path,
            period=PERIOD,
            label="refused deliveries",
        )

    def _all_dead_letters(self, dead_letter_queues: Mapping[str, sqs.IQueue]) -> dict[str, sqs.IQueue]:
        extra = {"ChannelWorker": self._channel_dead_letters} if self._channel_dead_letters is not None else {}
        return {**dead_letter_queues, **extra}

    # ---------------------------------------------------------------------------------- dashboard
    def _widgets(self, dead_letter_queues: Mapping[str, sqs.IQueue]) -> list[list[cloudwatch.IWidget]]:
        tenant = self._tenant
        budget = tenant.agent.monthly_budget_usd
        latency = [
            self.metric(
                "TurnLatency", "voice_turn", statistic=stat, front_door="connect", part=part, label=f"{part} {stat}"
            )
            for part in ("agent", "platform")
            for stat in ("p50", "p90", "p99")
        ]
        return [
            [
                cloudwatch.GraphWidget(
                    title="Contacts by route and channel",
                    left=[
                        self.metric("ContactsRouted", "call_router", route=r, channel=c, label=f"{c} {r}")
                        for c in CHANNELS
                        for r in ROUTES
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="Live calls against the limit",
                    left=[self.metric("LiveCalls", "call_router", statistic="Maximum", label="live calls")],
                    left_annotations=[
                        cloudwatch.HorizontalAnnotation(
                            value=tenant.limits.max_concurrent_calls, label="max_concurrent_calls"
                        )
                    ],
                    width=12,
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Connect turn latency (agent time and platform time)",
                    left=latency,
                    left_annotations=[
                        cloudwatch.HorizontalAnnotation(
                            value=tenant.operations.turn_latency_p99_target_ms, label="p99 target"
                        )
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="Model mix (turns per model)",
                    left=[
                        self.metric("ModelTurns", "voice_agent_turn", model=m, label=m)
                        for m in (*tenant.agent.allowed_models, "none")
                    ],
                    width=12,
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Voice bridge turn latency (caller's final words to first audio back, ms)",
                    left=[
                        *(
                            self.bridge_metric(bridge_metrics.TURN_LATENCY, statistic=stat, label=f"all {stat}")
                            for stat in ("p50", "p90", "p99")
                        ),
                        *(
                            self.bridge_metric(
                                bridge_metrics.TURN_LATENCY, statistic="p90", speech=speech, label=f"{speech} p90"
                            )
                            for speech in BRIDGE_SPEECH
                        ),
                    ],
                    left_annotations=[
                        cloudwatch.HorizontalAnnotation(
                            value=tenant.operations.bridge_turn_latency_p90_target_ms, label="p90 target"
                        )
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="Voice bridge failovers",
                    left=[
                        self.bridge_metric(bridge_metrics.FAILOVERS, to=to, label=f"to {to}")
                        for to in (*BRIDGE_SPEECH, "apology")
                    ],
                    width=12,
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Tool errors and timeouts",
                    left=[self.metric("ToolCalls", "voice_agent_turn", status=s, label=s) for s in TOOL_PROBLEMS],
                    width=8,
                ),
                cloudwatch.GraphWidget(
                    title="Breakers opened, degradations, handoffs",
                    left=[
                        *(
                            self.metric("BreakerChanges", "voice_turn", dependency=d, state="open", label=f"{d} open")
                            for d in ("agent", "speech_to_speech", "cascaded_speech")
                        ),
                        *(
                            self.metric("Degradations", "voice_turn", to=m, label=f"to {m}")
                            for m in ("cascaded", "human")
                        ),
                        self.metric("Handoffs", "voice_turn", label="handoffs"),
                    ],
                    width=8,
                ),
                cloudwatch.GraphWidget(
                    title="Dead-letter queues",
                    left=[
                        q.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum", label=name)
                        for name, q in self._all_dead_letters(dead_letter_queues).items()
                    ],
                    width=8,
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Spend this month against the budget (USD)",
                    left=[
                        self.metric(
                            "MonthToDateSpendUsd",
                            "call_router",
                            statistic="Maximum",
                            period=BUDGET_PERIOD,
                            label="month to date",
                        )
                    ],
                    left_annotations=[
                        cloudwatch.HorizontalAnnotation(value=budget, label="monthly budget"),
                        cloudwatch.HorizontalAnnotation(
                            value=budget * tenant.budget.step_down_at, label="step-down line"
                        ),
                    ],
                    width=12,
                ),
                cloudwatch.SingleValueWidget(
                    title="Spend today / month to date (USD)",
                    metrics=[
                        cloudwatch.MathExpression(
                            expression="MAX(m) - MIN(m)",
                            using_metrics={
                                "m": self.metric(
                                    "MonthToDateSpendUsd", "call_router", statistic="Maximum", period=BUDGET_PERIOD
                                )
                            },
                            label="today (since midnight UTC, from the router's reads)",
                            period=Duration.days(1),
                        ),
                        self.metric(
                            "MonthToDateSpendUsd",
                            "call_router",
                            statistic="Maximum",
                            period=Duration.days(1),
                            label="month to date",
                        ),
                    ],
                    width=12,
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Channel webhook refusals by path (unsigned 401, wrongly signed 403)",
                    left=list(self.webhook_rejections().using_metrics.values()),
                    left_annotations=[
                        cloudwatch.HorizontalAnnotation(
                            value=tenant.operations.webhook_rejections_alarm_threshold, label="alarm (all paths)"
                        )
                    ],
                    stacked=True,
                    width=12,
                ),
            ],
        ]


class PlatformObservability(Construct):
    """The vendor API's and ingestion's dashboard, and alarms on the API's 5xx answers.

    Public attributes: `topic`, `dashboard`, `alarms`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_name: str,
        stage_name: str,
        emails: Sequence[str] = (),
        api_5xx_threshold: int = 5,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = alarm_topic(self, "AlarmTopic", display_name="Oratio platform alarms", emails=emails)

        def api(name: str, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name=name,
                dimensions_map={"ApiName": api_name, "Stage": stage_name},
                statistic=statistic,
                period=PERIOD,
                label=label,
            )

        def platform(name: str, service: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="Oratio",
                metric_name=name,
                dimensions_map={"service": service},
                statistic="Sum",
                period=PERIOD,
                label=name,
            )

        self.alarms = _alarms(
            self,
            [
                AlarmSpec(
                    "VendorApi5xx",
                    api("5XXError"),
                    api_5xx_threshold,
                    "Vendors are getting 5xx answers from the vendor API. Check first the vendor_api log group for "
                    "'unexpected error' and 'data layer failed' (DynamoDB throttling or access), then API Gateway's "
                    "access logs for the failing routes.",
                ),
            ],
            self.topic,
        )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name="oratio-platform",
            widgets=[
                [
                    cloudwatch.GraphWidget(
                        title="Vendor API requests and errors",
                        left=[
                            api("Count", label="requests"),
                            api("4XXError", label="4xx"),
                            api("5XXError", label="5xx"),
                        ],
                        width=8,
                    ),
                    cloudwatch.GraphWidget(
                        title="Vendor API latency p99 (ms)",
                        left=[api("Latency", "p99", "p99"), api("IntegrationLatency", "p99", "integration p99")],
                        width=8,
                    ),
                    cloudwatch.GraphWidget(
                        # Throttled requests (stage limit and the per-vendor limit) are 429s among the 4xx.
                        title="Vendor API refusals and failures (handler)",
                        left=[
                            platform("VendorApiClientErrors", "vendor_api"),
                            platform("VendorApiServerErrors", "vendor_api"),
                        ],
                        width=8,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Knowledge ingestion (all tenants)",
                        left=[
                            cloudwatch.MathExpression(
                                # Every tenant's namespace: a free-text search on the metric and service names.
                                expression=(
                                    f"SUM(SEARCH('MetricName=\"{name}\" service=\"knowledge_ingestion\"', 'Sum', 300))"
                                ),
                                label=name,
                                period=PERIOD,
                            )
                            for name in (
                                "DocumentsUploaded",
                                "IngestionJobsStarted",
                                "DocumentsIndexed",
                                "DocumentsFailedIngestion",
                            )
                        ],
                        width=24,
                    ),
                ],
            ],
        )
