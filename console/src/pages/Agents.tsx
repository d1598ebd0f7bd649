// Agents: the list with status and the allowed lifecycle actions, and a form to create a new agent.
import { useState } from "preact/hooks";
import { api } from "../api";
import { LifecycleButtons } from "../lifecycle";
import type { AgentPage, AgentView } from "../types";
import { Busy, ErrorBanner, Section, useLoad } from "../ui";
import { FieldErrors, fieldError } from "../fields";

const CHANNELS = ["voice", "chat", "sms", "whatsapp", "instagram", "facebook", "twitter"];
const TONES = ["friendly_helpful", "professional", "casual", "formal", "enthusiastic"];

export function AgentsPage() {
  const { data, error, loading, reload } = useLoad(() => api<AgentPage>("GET", "/api/v1/agents?limit=100"), []);
  const [agents, setAgents] = useState<AgentView[] | null>(null);
  const list = agents ?? data?.items ?? [];

  function replace(updated: AgentView) {
    setAgents(list.map((a) => (a.id === updated.id ? updated : a)).filter((a) => a.status !== "deleted"));
  }

  return (
    <>
      <h1>Agents</h1>
      <ErrorBanner error={error} />
      {loading && !data && <Busy label="Loading agents" />}
      {data && list.length === 0 && <p>No agents yet. Create the first one below.</p>}
      {list.length > 0 && (
        <table class="agents">
          <caption class="sr-only">Your agents</caption>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Status</th>
              <th scope="col">Live version</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((agent) => (
              <tr key={agent.id}>
                <td data-label="Agent">
                  <a href={`#/agents/${encodeURIComponent(agent.id)}`}>{agent.name}</a>
                  <div class="muted">{agent.character_config.business_name}</div>
                </td>
                <td data-label="Status">
                  <span class={`status status-${agent.status}`}>{agent.status}</span>
                </td>
                <td data-label="Live version">
                  {agent.live_version ?? "none"}
                  {agent.latest_version !== agent.live_version && (
                    <span class="muted"> (draft v{agent.latest_version})</span>
                  )}
                </td>
                <td data-label="Actions">
                  <LifecycleButtons agent={agent} onChanged={replace} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <CreateAgent
        onCreated={() => {
          setAgents(null);
          reload();
        }}
      />
    </>
  );
}

function CreateAgent({ onCreated }: { onCreated: (a: AgentView) => void }) {
  const [name, setName] = useState("");
  const [business, setBusiness] = useState("");
  const [businessType, setBusinessType] = useState("retail");
  const [tone, setTone] = useState("friendly_helpful");
  const [channels, setChannels] = useState<string[]>(["voice"]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<AgentView | null>(null);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const agent = await api<AgentView>("POST", "/api/v1/agents", {
        name,
        business_type: businessType,
        channels,
        character_config: { business_name: business, tone },
      });
      setCreated(agent);
      setName("");
      onCreated(agent);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section title="Create an agent">
      <form onSubmit={submit} class="form" aria-label="Create an agent" noValidate>
        <label>
          Agent name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} aria-invalid={!!fieldError(error, "name")} />
        </label>
        <label>
          Business name
          <input
            value={business}
            onInput={(e) => setBusiness(e.currentTarget.value)}
            aria-invalid={!!fieldError(error, "character_config.business_name")}
          />
        </label>
        <label>
          Business type
          <input value={businessType} onInput={(e) => setBusinessType(e.currentTarget.value)} />
        </label>
        <label>
          Tone
          <select value={tone} onChange={(e) => setTone(e.currentTarget.value)}>
            {TONES.map((t) => (
              <option key={t} value={t}>
                {t.replace(/_/g, " ")}
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Channels</legend>
          {CHANNELS.map((c) => (
            <label key={c} class="inline">
              <input
                type="checkbox"
                checked={channels.includes(c)}
                onChange={(e) =>
                  setChannels(e.currentTarget.checked ? [...channels, c] : channels.filter((x) => x !== c))
                }
              />{" "}
              {c}
            </label>
          ))}
        </fieldset>
        <FieldErrors error={error} />
        <button type="submit" disabled={busy}>
          Create agent
        </button>
        {created && (
          <p role="status">
            Created <a href={`#/agents/${encodeURIComponent(created.id)}`}>{created.name}</a> as a draft.
          </p>
        )}
      </form>
    </Section>
  );
}
