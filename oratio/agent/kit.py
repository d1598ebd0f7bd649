"""What one agent version runs with: its definition and everything built from it (prompt builder, model selector,
workflow, tools), built once per agent version and container.

`AgentKits.for_agent(live)` turns what the definition source says of an agent (`LiveAgent`) into its kit: the
tenant's defaults with the live version's overrides. A version whose overrides no longer resolve against the
tenant file (a tenant default it relied on changed at deploy) keeps serving the last version of that agent that
did, or the tenant's defaults; the failure is logged and counted.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from oratio.agent.model_routing import ModelSelector, RoutingSettings
from oratio.agent.ports import ToolRunner, Workflow
from oratio.agent.prompt import PromptBuilder, PromptSettings
from oratio.agent_definitions.merge import resolve
from oratio.agent_definitions.model import AgentDefinition
from oratio.agent_definitions.versions import LiveAgent
from oratio.config.catalog import ModelCatalog
from oratio.config.tenant import TenantConfig

logger = logging.getLogger(__name__)

ToolFactory = Callable[[AgentDefinition], ToolRunner]
WorkflowFactory = Callable[[AgentDefinition], Workflow]
RESOLVE_FAILURE_METRIC = "AgentDefinitionResolveFailures"


@dataclass(frozen=True)
class AgentKit:
    definition: AgentDefinition
    prompts: PromptBuilder
    selector: ModelSelector
    workflow: Workflow
    tools: ToolRunner


class AgentKits:
    """Kits per (agent id, version), bounded; built from the tenant, the catalog and the two factories."""

    def __init__(
        self,
        tenant: TenantConfig,
        catalog: ModelCatalog,
        *,
        tools: ToolFactory,
        workflow: WorkflowFactory,
        routing: RoutingSettings,
        prompt: PromptSettings,
        max_kits: int = 128,
    ) -> None:
        self.tenant = tenant
        self._catalog = catalog
        self._tools = tools
        self._workflow = workflow
        self._routing = routing
        self._prompt = prompt
        self._max = max_kits
        self._kits: OrderedDict[tuple[str, int | None], AgentKit] = OrderedDict()
        self._last_good: dict[str, AgentKit] = {}
        self.failures = 0

    def for_agent(self, live: LiveAgent) -> AgentKit:
        key = (live.agent_id, live.version)
        kit = self._kits.get(key)
        if kit is not None:
            self._kits.move_to_end(key)
            return kit
        try:
            definition = resolve(self.tenant, live.agent_id, live.overrides(), live.version)
        except (ValueError, TypeError) as e:  # ValidationError is a ValueError
            self.failures += 1
            logger.warning(
                "agent definition does not resolve",
                extra={
                    "agent_id": live.agent_id,
                    "version": live.version,
                    "error": type(e).__name__,
                    "metric": RESOLVE_FAILURE_METRIC,
                },
            )
            fallback = self._last_good.get(live.agent_id)
            return fallback or self.for_agent(live.model_copy(update={"version": None, "spec": None}))
        kit = self.build(definition)
        self._kits[key] = kit
        self._last_good[live.agent_id] = kit
        while len(self._kits) > self._max:
            self._kits.popitem(last=False)
        return kit

    def build(self, definition: AgentDefinition) -> AgentKit:
        models = definition.models
        return AgentKit(
            definition=definition,
            prompts=PromptBuilder(definition, self._prompt),
            selector=ModelSelector(self._catalog, models.allowed_models, models.thinking_budget_tokens, self._routing),
            workflow=self._workflow(definition),
            tools=self._tools(definition),
        )
