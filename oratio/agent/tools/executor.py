"""`ToolExecutor`: the agent's `ToolRunner`. It knows the tools enabled for one agent and runs a turn's
tool calls concurrently, each bounded by a timeout, so a slow, failing or unknown tool becomes a typed
result for the model instead of a hung or crashed turn.

Every call goes through the same gates, in order: the tool is enabled (else `denied`), the arguments are
an object within the size limit and valid against the tool's JSON schema (else `error`, naming the
field), and for tools that write, the customer's text and the arguments pass the injection screen (else
`denied`). Only then does the tool run, inside the concurrency cap and its timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from oratio.agent.tools.base import Tool, ToolCall, ToolContext, ToolResult, ToolStatus
from oratio.agent.tools.invocation import ToolError, set_current_tool_use_id
from oratio.agent.tools.screening import InjectionScreen

if TYPE_CHECKING:
    import httpx

    from oratio.agent.ports import KnowledgeRetriever
    from oratio.agent_definitions.model import AgentDefinition
    from oratio.config.tenant import AgentSettings, BusinessTool
    from oratio.domain.knowledge_scope import SearchScope

logger = logging.getLogger(__name__)

INJECTION_DENIAL = "input looked like a prompt injection"
_MAX_ERROR_DETAIL_CHARS = 200


@dataclass(frozen=True)
class ExecutorLimits:
    """How tool calls are bounded. Defaults match `AgentSettings`; `from_settings` copies the tenant's."""

    default_timeout_seconds: float = 5.0
    max_parallel: int = 20
    max_argument_bytes: int = 16_384
    max_result_bytes: int = 65_536

    def __post_init__(self) -> None:
        if self.default_timeout_seconds <= 0 or self.max_parallel < 1:
            raise ValueError("default_timeout_seconds must be > 0 and max_parallel >= 1")
        if self.max_argument_bytes < 1 or self.max_result_bytes < 1:
            raise ValueError("size limits must be positive")


class ToolExecutor:
    """Runs one agent's enabled tools; implements `oratio.agent.ports.ToolRunner`."""

    def __init__(
        self,
        tools: Iterable[Tool],
        *,
        limits: ExecutorLimits | None = None,
        screen: InjectionScreen | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._limits = limits or ExecutorLimits()
        self._screen = screen or InjectionScreen()
        self._clock = clock
        self._tools: dict[str, Tool] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        # Tools that overran their timeout are cancelled but not awaited (a tool may be slow to stop);
        # holding them here keeps them from being garbage-collected mid-cancellation.
        self._abandoned: set[asyncio.Task[dict[str, Any]]] = set()
        for tool in tools:
            name = tool.spec.name
            if name in self._tools:
                raise ValueError(f"tool {name!r} is registered twice")
            Draft202012Validator.check_schema(tool.spec.input_schema)
            self._tools[name] = tool
            self._validators[name] = Draft202012Validator(tool.spec.input_schema)

    @classmethod
    def from_settings(
        cls,
        settings: AgentSettings,
        *,
        retriever: KnowledgeRetriever | None = None,
        http_client: httpx.AsyncClient | None = None,
        screen: InjectionScreen | None = None,
    ) -> ToolExecutor:
        """The executor for an agent's configuration: its enabled built-ins and business tools, its limits.

        `retriever` is required when `knowledge_search` is enabled, `http_client` when business tools exist.
        """
        return cls._assemble(
            settings.tools,
            settings.business_tools,
            ExecutorLimits(
                default_timeout_seconds=settings.tool_timeout_seconds, max_parallel=settings.max_parallel_tools
            ),
            retriever=retriever,
            http_client=http_client,
            screen=screen,
            scope=None,
        )

    @classmethod
    def from_definition(
        cls,
        definition: AgentDefinition,
        *,
        retriever: KnowledgeRetriever | None = None,
        http_client: httpx.AsyncClient | None = None,
        screen: InjectionScreen | None = None,
    ) -> ToolExecutor:
        """The executor of one agent: the built-ins and business tools its definition enables, its limits, and
        knowledge search scoped to its own documents (plus the tenant-wide ones when its definition says so).
        Vendor-defined business tools run through the same `HttpBusinessTool` as the tenant's."""
        from oratio.domain.knowledge_scope import SearchScope

        settings = definition.tools
        return cls._assemble(
            settings.builtin,
            settings.business_tools,
            ExecutorLimits(default_timeout_seconds=settings.timeout_seconds, max_parallel=settings.max_parallel),
            retriever=retriever,
            http_client=http_client,
            screen=screen,
            scope=SearchScope(
                agent_id=definition.agent_id, include_tenant_documents=definition.knowledge.include_tenant_documents
            ),
        )

    @classmethod
    def _assemble(
        cls,
        builtin: Iterable[str],
        business_tools: Iterable[BusinessTool],
        limits: ExecutorLimits,
        *,
        retriever: KnowledgeRetriever | None,
        http_client: httpx.AsyncClient | None,
        screen: InjectionScreen | None,
        scope: SearchScope | None,
    ) -> ToolExecutor:
        from oratio.agent.tools.builtin import EndCallTool, KnowledgeSearchTool, TransferToHumanTool
        from oratio.agent.tools.http_tool import HttpBusinessTool

        tools: list[Tool] = []
        for name in builtin:
            if name == "knowledge_search":
                if retriever is None:
                    raise ValueError("knowledge_search is enabled but no knowledge retriever was given")
                tools.append(KnowledgeSearchTool(retriever, scope=scope))
            elif name == "transfer_to_human":
                tools.append(TransferToHumanTool())
            elif name == "end_call":
                tools.append(EndCallTool())
        business = list(business_tools)
        if business:
            if http_client is None:
                raise ValueError("business tools are configured but no HTTP client was given")
            tools.extend(HttpBusinessTool(config, http_client) for config in business)
        return cls(tools, limits=limits, screen=screen)

    @property
    def limits(self) -> ExecutorLimits:
        return self._limits

    @property
    def tool_names(self) -> tuple[str, ...]:
        """Names of the enabled tools, in registration order."""
        return tuple(self._tools)

    def model_tool_specs(self) -> list[dict[str, Any]]:
        """Converse `toolConfig.tools` entries for the enabled tools (and only those)."""
        return [
            {
                "toolSpec": {
                    "name": tool.spec.name,
                    "description": tool.spec.description,
                    "inputSchema": {"json": tool.spec.input_schema},
                }
            }
            for tool in self._tools.values()
        ]

    async def run_all(self, calls: list[ToolCall], context: ToolContext) -> list[ToolResult]:
        """Run `calls` concurrently (at most `max_parallel` at once); one result per call, in call order."""
        if not calls:
            return []
        # One cap per turn: a busy session must not make another session's tools queue.
        slots = asyncio.Semaphore(self._limits.max_parallel)
        return list(await asyncio.gather(*(self._run_one(call, context, slots) for call in calls)))

    async def _run_one(self, call: ToolCall, context: ToolContext, slots: asyncio.Semaphore) -> ToolResult:
        started = self._clock()

        def result(status: ToolStatus, content: dict[str, Any] | None = None, error: str | None = None) -> ToolResult:
            return ToolResult(
                tool_use_id=call.tool_use_id,
                name=call.name,
                status=status,
                content=content or {},
                error=error,
                duration_ms=round((self._clock() - started) * 1000, 3),
            )

        tool = self._tools.get(call.name)
        if tool is None:
            logger.warning("tool call denied: %r is not enabled", call.name[:64])
            return result("denied", error=f"tool {call.name[:64]!r} is not available to this agent")

        problem = self._check_arguments(call)
        if problem is not None:
            return result("error", error=problem)

        if tool.spec.writes:
            hit = self._screen.screen_call(context.user_text, call.arguments)
            if hit is not None:
                logger.warning(
                    "tool call denied by injection screen",
                    extra={"tool": call.name, "marker": hit.marker, "session_id": context.session_id},
                )
                return result("denied", error=INJECTION_DENIAL)

        timeout = tool.spec.timeout_seconds or self._limits.default_timeout_seconds
        async with slots:
            # Runs in this call's own task (gather made one), so the id is this call's alone.
            set_current_tool_use_id(call.tool_use_id)
            # A copy, so a tool that mutates its arguments cannot change what the turn records.
            task = asyncio.create_task(
                tool.run(json.loads(json.dumps(call.arguments)), context), name=f"tool:{call.name}"
            )
            try:
                done, _ = await asyncio.wait({task}, timeout=timeout)
            finally:
                if not task.done():
                    # Timed out, or the turn itself was cancelled: stop the tool, and do not wait for it
                    # to finish stopping (a tool that ignores cancellation must not hold the turn).
                    task.cancel()
                    self._abandon(task)
            if not done:
                logger.warning("tool timed out", extra={"tool": call.name, "timeout_seconds": timeout})
                return result("timeout", error=f"{call.name} did not answer within {timeout:g} s")
            if task.cancelled():
                # Cancelled from inside (not by us, not by the turn): a failure of this call only.
                return result("error", error=f"{call.name} was cancelled")
            try:
                content = task.result()
            except TimeoutError as e:
                # The tool's own dependency timed out (e.g. its HTTP call): a timeout, not a bug.
                detail = e.safe_message if isinstance(e, ToolError) else f"{call.name} timed out"
                return result("timeout", error=_short(detail))
            except ToolError as e:
                logger.info("tool failed", extra={"tool": call.name, "error": type(e).__name__})
                return result("error", error=_short(f"{type(e).__name__}: {e.safe_message}"))
            except Exception as e:
                # The stack trace goes to the logs; the model gets the class name only, since an arbitrary
                # exception text may carry URLs, keys or customer data.
                logger.exception("tool raised", extra={"tool": call.name})
                return result("error", error=f"{type(e).__name__}: the tool failed unexpectedly")

        return self._checked_result(call.name, content, result)

    def _check_arguments(self, call: ToolCall) -> str | None:
        """Why the call's arguments cannot be used, or None when they are fine."""
        arguments: Any = call.arguments
        if not isinstance(arguments, dict):
            return f"invalid arguments: expected a JSON object, got {type(arguments).__name__}"
        try:
            size = len(json.dumps(arguments, ensure_ascii=False).encode())
        except (TypeError, ValueError):
            return "invalid arguments: not JSON-serialisable"
        if size > self._limits.max_argument_bytes:
            return f"arguments too large ({size} bytes; the limit is {self._limits.max_argument_bytes})"
        error = best_match(self._validators[call.name].iter_errors(arguments))
        if error is None:
            return None
        where = error.json_path  # "$" for the object itself, "$.order_number" for a field
        return _short(f"invalid arguments at {where}: {error.message}")

    def _checked_result(self, name: str, content: Any, result: Callable[..., ToolResult]) -> ToolResult:
        if not isinstance(content, dict):
            logger.error("tool returned a non-object", extra={"tool": name, "type": type(content).__name__})
            return result("error", error=f"{name} returned {type(content).__name__}, not a JSON object")
        try:
            size = len(json.dumps(content, ensure_ascii=False).encode())
        except (TypeError, ValueError):
            logger.error("tool returned a non-JSON result", extra={"tool": name})
            return result("error", error=f"{name} returned a result that is not JSON")
        if size > self._limits.max_result_bytes:
            logger.warning("tool result too large", extra={"tool": name, "bytes": size})
            return result(
                "error", error=f"result too large ({size} bytes; the limit is {self._limits.max_result_bytes})"
            )
        return result("ok", content=content)

    def _abandon(self, task: asyncio.Task[dict[str, Any]]) -> None:
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[dict[str, Any]]) -> None:
        self._abandoned.discard(task)
        # Retrieve the outcome so asyncio does not log "exception was never retrieved".
        if not task.cancelled() and task.exception() is not None:
            logger.info("abandoned tool finished with an error", extra={"task": task.get_name()})


def _short(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_DETAIL_CHARS else text[: _MAX_ERROR_DETAIL_CHARS - 1] + "…"
