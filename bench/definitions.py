"""Agent definition loading: what a turn pays to know which agent it is.

- cold: a container's first read of an agent, through the DynamoDB adapter (moto in process: the figure is the
  adapter's own work plus moto's, not a network round trip) and the in-memory one, then the merge with the tenant's
  defaults into an `AgentDefinition` (what the agent kit is built from);
- re-check: the recheck interval passed, so the agent's pointer is read again but its version document is not;
- warm: within the interval, from the container's cache (no read).
Each figure is wall time per call; CPU time is shown beside the cold one (the machine is shared).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import report
from oratio.agent_definitions.memory import MemoryDefinitionStore
from oratio.agent_definitions.merge import resolve
from oratio.agent_definitions.model import AgentOverrides
from oratio.agent_definitions.source import CachedDefinitionSource, DefinitionReader, SourceSettings
from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.config import load_tenant_file
from oratio.domain.agents import AgentStatus

ROOT = Path(__file__).resolve().parents[1]
TENANT = load_tenant_file(ROOT / "tenants" / "cozy-comfort.yaml")
AGENT = "agt-bench"
AT = datetime(2026, 11, 30, tzinfo=UTC)
SPEC = AgentSpec(
    name="Members desk",
    business_type="retail",
    character_config=CharacterConfig(
        business_name=TENANT.business.name,
        persona="Riley, the members' advisor",
        knowledge_base={f"fact_{i}": "x" * 200 for i in range(20)},
    ),
    definition=AgentOverrides.model_validate(
        {"tone": "professional", "guardrails": {"refuse_topics": ["competitors"]}, "voice": {"voice_id": "matthew"}}
    ),
)
VERSION = DefinitionVersion(
    vendor_id=TENANT.tenant_id, agent_id=AGENT, version=1, spec=SPEC, author="bench", note="bench", created_at=AT
)


def _loads(reader: DefinitionReader, runs: int) -> dict[str, Any]:
    async def cold() -> None:
        live = await CachedDefinitionSource(reader).live(TENANT.tenant_id, AGENT)
        resolve(TENANT, AGENT, live.overrides(), live.version)

    warm_source = CachedDefinitionSource(reader, SourceSettings(recheck_seconds=60))
    recheck_source = CachedDefinitionSource(reader, SourceSettings(recheck_seconds=0))

    async def warm() -> None:
        await warm_source.live(TENANT.tenant_id, AGENT)

    async def recheck() -> None:
        await recheck_source.live(TENANT.tenant_id, AGENT)

    async def measure(fn: Callable[[], Awaitable[None]]) -> tuple[list[float], float]:
        for _ in range(5):
            await fn()
        samples, cpu = [], time.process_time()
        for _ in range(runs):
            start = time.perf_counter()
            await fn()
            samples.append(time.perf_counter() - start)
        return samples, (time.process_time() - cpu) / runs

    async def all_three() -> dict[str, Any]:
        return {"cold": await measure(cold), "recheck": await measure(recheck), "warm": await measure(warm)}

    return asyncio.run(all_three())


def _dynamodb_reader() -> tuple[Any, DefinitionReader]:
    import os

    import boto3
    from moto import mock_aws

    from oratio.adapters.dynamodb import _serialize, agent_to_item
    from oratio.agent_definitions.dynamodb import DynamoDBDefinitionReader, version_to_item
    from oratio.domain.agents import Agent
    from oratio.tables import AGENT_DEFINITIONS, AGENTS
    from oratio_local.dynamodb import create_tables

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    mock = mock_aws()
    mock.start()
    client = boto3.client("dynamodb", region_name="us-east-1")
    names = create_tables(client, (AGENTS, AGENT_DEFINITIONS), prefix="bench-")
    agent = Agent(
        vendor_id=TENANT.tenant_id,
        agent_id=AGENT,
        name="bench",
        status=AgentStatus.ACTIVE,
        created_at=AT,
        updated_at=AT,
    )
    client.put_item(TableName=names[AGENTS.key], Item=_serialize({**agent_to_item(agent), "live_version": 1}))
    client.put_item(TableName=names[AGENT_DEFINITIONS.key], Item=_serialize(version_to_item(VERSION)))
    return mock, DynamoDBDefinitionReader(names[AGENTS.key], names[AGENT_DEFINITIONS.key], client=client)


def run(runs: int = 200) -> None:
    print("agent definitions (a turn learning which agent it is)")
    memory = MemoryDefinitionStore()
    memory.put(VERSION)
    memory.set_pointer(TENANT.tenant_id, AGENT, AgentStatus.ACTIVE, 1)
    mock, dynamodb = _dynamodb_reader()
    try:
        for name, reader in (("DynamoDB adapter on moto", dynamodb), ("in-memory store", memory)):
            figures = _loads(reader, runs)
            samples, cpu = figures["cold"]
            report(f"{name}: cold (2 reads + merge)", samples)
            print(f"  {'':<48} cpu    {cpu * 1e3:9.3f} ms per load")
            report(f"{name}: re-check (pointer read only)", figures["recheck"][0])
            report(f"{name}: warm (cached)", figures["warm"][0], "us")
    finally:
        mock.stop()
    merge = []
    overrides = SPEC.definition
    for _ in range(runs):
        start = time.perf_counter()
        resolve(TENANT, AGENT, overrides, 1)
        merge.append(time.perf_counter() - start)
    print(f"  {'of which the merge with the tenant defaults':<48} median {statistics.median(merge) * 1e3:9.3f} ms")
