"""The voice bench's bridge process: the voice bridge's AgentCore app (`agentcore/voice_bridge/app.py`, its
`/ws` route, served by uvicorn on 127.0.0.1 as AgentCore serves it) running every call against the Nova
Sonic stand-in through the real `aws-sdk-bedrock-runtime` client and the tenant agent over HTTP, both in
processes of their own. Nothing else runs here, so this process's CPU time is the bridge's.

`GET /bench/usage` answers this process's CPU seconds (user + system, `resource.getrusage`), its resident
memory and the bridge's own chunk-to-first-frame latencies; `python -m bench.voice_calls` reads it.

    python -m bench.voice_bridge_server --sonic-endpoint URL --sonic-ca FILE --agent-url URL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn

from agentcore.tenant_agent.client import HttpAgentClient
from agentcore.voice_bridge import app as bridge_app
from agentcore.voice_bridge.wiring import await_start
from oratio.adapters.memory_agent import InMemoryBudgetLedger, InMemoryConversationRecorder
from oratio.adapters.nova_sonic import NovaSonicSessionFactory, build_client
from oratio.voice_bridge.bridge import CallContext, CallOutcome, VoiceCall
from oratio.voice_bridge.cascaded import CascadedSessionFactory
from oratio.voice_bridge.config import BridgeSettings, SonicSettings, ToolSpec
from oratio.voice_bridge.ports import SpeechSessionFactory
from oratio.voice_bridge.serializers import FrameSerializer, WireMessage
from oratio_local.speech import ScriptedRecognizer, ToneSynthesizer

USAGE_PATH = "/bench/usage"
KNOWLEDGE_TOOL = ToolSpec(
    name="knowledge_search",
    description="Search the business's knowledge",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


def resident_kib() -> int:
    """This process's resident memory now (Linux `/proc/self/statm`), else its peak (`ru_maxrss`)."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        pages = int(statm.read_text().split()[1])
        return pages * resource.getpagesize() // 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


class BenchBridge:
    """One process's bridge: a Sonic client and an agent client shared by every call, as deployed."""

    def __init__(self, settings: BridgeSettings, ca_file: Path, agent_url: str) -> None:
        self.settings = settings
        self.ca_file = ca_file
        self.agent_url = agent_url
        self.latencies: list[float] = []
        self.calls = 0
        self._sonic: Any = None
        self._agent: HttpAgentClient | None = None

    async def _clients(self) -> tuple[Any, HttpAgentClient]:
        if self._sonic is None or self._agent is None:
            self._sonic = await build_client(
                self.settings.sonic,
                ca_file=self.ca_file,
                aws_access_key_id="AKIDBENCH",
                aws_secret_access_key="bench",  # noqa: S106 - the stand-in does not check signatures
            )
            self._agent = HttpAgentClient(self.agent_url)
        return self._sonic, self._agent

    async def run_call(
        self,
        serializer: FrameSerializer,
        send: Callable[[WireMessage], Awaitable[None]],
        messages: AsyncIterator[WireMessage],
    ) -> CallOutcome:
        sonic, agent = await self._clients()
        start, messages = await await_start(serializer, messages)
        # The call id in the prompt lets the bench match the stand-in's session to its caller.
        settings = self.settings.model_copy(
            update={"system_prompt": f"{self.settings.system_prompt} (bench call {start.call_id})"}
        )
        synthesizer = ToneSynthesizer()

        def ladder(context: CallContext) -> list[SpeechSessionFactory]:
            return [
                NovaSonicSessionFactory(sonic, settings.sonic, settings.sample_rate),
                CascadedSessionFactory(
                    settings,
                    ScriptedRecognizer(),
                    agent,
                    synthesizer,
                    call_id=lambda: context.call_id,
                    customer=context.customer,
                ),
            ]

        call = VoiceCall(
            settings,
            serializer,
            send,
            ladder=ladder,
            agent=agent,
            synthesizer=synthesizer,
            recorder=InMemoryConversationRecorder(),
            ledger=InMemoryBudgetLedger(),
        )
        outcome = await call.run(messages)
        self.calls += 1
        self.latencies.extend(call.output.latencies)
        return outcome

    def usage(self) -> dict[str, Any]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "cpu_seconds": own.ru_utime + own.ru_stime,
            "rss_kib": resident_kib(),
            "calls": self.calls,
            "latencies": list(self.latencies),
        }


def with_usage_route(app: Any, bridge: BenchBridge) -> Any:
    """The bridge app, plus `GET /bench/usage` answered before the app sees the request."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == USAGE_PATH:
            body = json.dumps(bridge.usage()).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return asgi


async def serve(bridge: BenchBridge) -> None:
    bridge_app.set_call_runner(bridge.run_call)
    config = uvicorn.Config(
        with_usage_route(bridge_app.app, bridge), host="127.0.0.1", port=0, log_level="warning", ws_max_size=1 << 20
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes our stdin
    server.should_exit = True
    await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sonic-endpoint", required=True)
    parser.add_argument("--sonic-ca", type=Path, required=True)
    parser.add_argument("--agent-url", required=True)
    parser.add_argument("--settings", default="{}", help="BridgeSettings fields to override, as JSON")
    args = parser.parse_args(argv)
    settings = BridgeSettings.model_validate(
        {
            "tenant_id": "cozy-comfort",
            "agent_id": "front-desk",
            "system_prompt": "You are Cozy Comfort's phone assistant.",
            "tools": [KNOWLEDGE_TOOL.model_dump()],
            "sonic": SonicSettings(endpoint_uri=args.sonic_endpoint).model_dump(),
            **json.loads(args.settings),
        }
    )
    asyncio.run(serve(BenchBridge(settings, args.sonic_ca, args.agent_url)))


if __name__ == "__main__":
    main()
