// Lifecycle buttons: only the actions the API says the agent's status allows; stop and delete ask first.
import { useState } from "preact/hooks";
import { api } from "./api";
import type { AgentView } from "./types";
import { ACTION_LABELS, Confirm, ErrorBanner } from "./ui";

const ASK_FIRST = new Set(["stop", "delete"]);

export function LifecycleButtons({ agent, onChanged }: { agent: AgentView; onChanged: (a: AgentView) => void }) {
  const [asking, setAsking] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function run(action: string) {
    setAsking(null);
    setBusy(true);
    setError(null);
    try {
      const path = `/api/v1/agents/${encodeURIComponent(agent.id)}`;
      const updated =
        action === "delete" ? await api<AgentView>("DELETE", path) : await api<AgentView>("POST", `${path}/${action}`);
      onChanged(updated);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="lifecycle">
      {agent.allowed_actions.map((action) => (
        <button
          key={action}
          type="button"
          class={ASK_FIRST.has(action) ? "danger" : ""}
          disabled={busy}
          aria-label={`${ACTION_LABELS[action] ?? action} ${agent.name}`}
          onClick={() => (ASK_FIRST.has(action) ? setAsking(action) : run(action))}
        >
          {ACTION_LABELS[action] ?? action}
        </button>
      ))}
      {asking && (
        <Confirm
          question={
            asking === "delete"
              ? `Delete ${agent.name}? Callers will no longer reach it, and it cannot be started again.`
              : `Stop ${agent.name}? Callers will hear that it is unavailable until you start it again.`
          }
          confirmLabel={`Yes, ${asking}`}
          onConfirm={() => run(asking)}
          onCancel={() => setAsking(null)}
        />
      )}
      <ErrorBanner error={error} />
    </div>
  );
}
