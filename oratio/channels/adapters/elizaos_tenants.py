"""What the platform-wide ElizaOS webhook knows of each vendor, from what the vendor's tenant stack published under
`/oratio/tenants/<vendor>/` (its channel profile, its agent runtime and endpoint) and the vendor's webhook secret;
read on first use per vendor and cached per container."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from oratio.agent.ports import ConversationRecorder
from oratio.channels.adapters.aws import CLIENT_CONFIG, SecretsManagerVendorSecret
from oratio.channels.ports import AgentInvoker, SecretUnavailableError
from oratio.channels.turns import ChannelProfile, MessagingTurns

CACHE_SECONDS = 300.0
PARAMETERS = ("channels/profile", "agent/runtime-arn", "agent/endpoint-arn")

AgentFactory = Callable[[str, str], AgentInvoker]  # (runtime ARN, endpoint qualifier) -> client


class SsmElizaTenants:
    def __init__(
        self,
        *,
        secret: SecretsManagerVendorSecret,
        recorder: ConversationRecorder,
        agent_factory: AgentFactory,
        clock: Callable[[], datetime],
        parameter_prefix: str = "/oratio/tenants",
        client: Any | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = secret
        self._recorder = recorder
        self._agent_factory = agent_factory
        self._clock = clock
        self._prefix = parameter_prefix.rstrip("/")
        self._client_instance = client
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, tuple[ChannelProfile, MessagingTurns] | None]] = {}

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("ssm", config=CLIENT_CONFIG)
        return self._client_instance

    async def secret(self, vendor_id: str) -> str | None:
        return await self._secret.get(vendor_id)

    async def turns(self, vendor_id: str) -> tuple[ChannelProfile, MessagingTurns] | None:
        cached = self._cache.get(vendor_id)
        if cached is not None and self._monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        values = await asyncio.to_thread(self._read, vendor_id)
        resolved = None
        if all(name in values for name in PARAMETERS):
            profile = ChannelProfile.model_validate_json(values["channels/profile"])
            qualifier = values["agent/endpoint-arn"].rsplit("/", 1)[-1]  # …/runtime-endpoint/<name>
            agent = self._agent_factory(values["agent/runtime-arn"], qualifier)
            turns = MessagingTurns(profile, agent=agent, recorder=self._recorder, linking=None, clock=self._clock)
            resolved = (profile, turns)
        self._cache[vendor_id] = (self._monotonic(), resolved)
        return resolved

    def _read(self, vendor_id: str) -> dict[str, str]:
        names = {f"{self._prefix}/{vendor_id}/{name}": name for name in PARAMETERS}
        try:
            response = self._client.get_parameters(Names=list(names))
        except (ClientError, BotoCoreError) as e:
            raise SecretUnavailableError(f"reading the parameters of tenant {vendor_id!r} failed") from e
        return {names[p["Name"]]: str(p["Value"]) for p in response.get("Parameters", [])}
