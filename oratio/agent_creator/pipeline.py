"""The AgentCreator pipeline (bodies land in the next commit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oratio.agent_creator.jobs import CreatorJob, StageName


@dataclass
class PipelineDeps:
    """What a pipeline run needs (filled in with the stages)."""


def run_job(job_id: str, *, deps: PipelineDeps) -> CreatorJob:
    raise NotImplementedError


def retry_job(job_id: str, from_stage: StageName | None = None, *, deps: PipelineDeps) -> CreatorJob:
    raise NotImplementedError
