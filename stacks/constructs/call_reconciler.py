"""The tenant's call slot reconciler: a scheduled Lambda that closes call sessions whose slot lease ran out
(their end event never came) as `abandoned` and gives their live-call slots back.

It runs once per lease length (at least every minute, EventBridge's finest rate), so a leaked slot is back
within about two leases even when no caller comes to trigger the router's own check. A failed run is not
retried by EventBridge: the next scheduled run repeats the same conditional closes.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from oratio.config import TenantConfig
from oratio.domain.call_events import TENANT_ID_ENV_VAR
from oratio.tables import CONVERSATIONS, LEASE_INDEX, TENANT_STATE
from stacks.constructs.data_tables import PlatformTableRefs
from stacks.constructs.lambda_function import OratioFunction

RECONCILER_TIMEOUT_SECONDS = 60
SECONDS_PER_MINUTE = 60


def reconcile_every_minutes(tenant: TenantConfig) -> int:
    """The schedule's rate: the lease length in whole minutes, and never less than one."""
    return max(1, tenant.limits.call_slots.lease_seconds // SECONDS_PER_MINUTE)


class CallSlotReconciler(Construct):
    """Schedule → function → this tenant's sessions and counter.

    The function may query only this tenant's entries of the lease index, read and close only this tenant's
    sessions (and read their turns, for the call's total cost), and update only this tenant's counter.
    """

    def __init__(self, scope: Construct, construct_id: str, *, tenant: TenantConfig, tables: PlatformTableRefs) -> None:
        super().__init__(scope, construct_id)
        tid = tenant.tenant_id
        self.handler = OratioFunction(
            self,
            "Handler",
            handler_folder="call_reconciler",
            service_name="call_reconciler",
            description=f"Closes {tid}'s abandoned calls (slot lease ran out) and frees their live-call slots",
            timeout_seconds=RECONCILER_TIMEOUT_SECONDS,
            environment={**tables.environment(CONVERSATIONS, TENANT_STATE), TENANT_ID_ENV_VAR: tid},
        )
        function = self.handler.function
        minutes = reconcile_every_minutes(tenant)
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"Reconcile {tid}'s live-call slots every {minutes} minute(s)",
            schedule=events.Schedule.rate(Duration.minutes(minutes)),
        )
        # No retries: the next run does the same work, and a retry would overlap it.
        self.rule.add_target(
            targets.LambdaFunction(function, retry_attempts=0, max_event_age=Duration.minutes(minutes))
        )

        tables.grant_items(function, CONVERSATIONS, ["Query"], [tid], index=LEASE_INDEX)
        # GetItem/UpdateItem: read and close the session; Query: its TURN items, summed into its total cost.
        tables.grant_items(function, CONVERSATIONS, ["GetItem", "UpdateItem", "Query"], [f"{tid}#*"])
        tables.grant_items(function, TENANT_STATE, ["UpdateItem"], [tid])
