"""The call's processors, in pipeline order, one module per group: speech (Nova Sonic, renewal, fallback) →
lifecycle gate (the agent paused or stopped mid-call) → tool relay (the tenant agent) → recorder (what is
persisted) → caller output (paced frames, barge-in flush).

Each handles the frames it knows and passes the rest on. Work that must not hold up the chain (reading a
speech session, a tool call, paced output) runs in tasks each processor owns and stops in `stop()`.
"""

from oratio.voice_bridge.processors.lifecycle import AgentCheck, LifecycleGate
from oratio.voice_bridge.processors.output import CallerOutput
from oratio.voice_bridge.processors.recorder import CallRecorder, vars_of
from oratio.voice_bridge.processors.speech import SpeechStage
from oratio.voice_bridge.processors.tools import ToolRelay

__all__ = ["AgentCheck", "CallRecorder", "CallerOutput", "LifecycleGate", "SpeechStage", "ToolRelay", "vars_of"]
