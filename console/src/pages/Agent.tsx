// One agent: its live definition in a form (the API's 422 details beside the fields), its versions with a
// side-by-side diff, publish and roll back, and its lifecycle.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { FieldErrors, fieldError } from "../fields";
import { LifecycleButtons } from "../lifecycle";
import type { AgentView, VersionDiff, VersionPage, VersionView } from "../types";
import { Busy, ErrorBanner, Section, useLoad, when } from "../ui";

export function AgentPage({ agentId }: { agentId: string }) {
  const path = `/api/v1/agents/${encodeURIComponent(agentId)}`;
  const loaded = useLoad(() => api<AgentView>("GET", path), [agentId]);
  const [agent, setAgent] = useState<AgentView | null>(null);
  const [versionsTick, setVersionsTick] = useState(0);
  useEffect(() => setAgent(loaded.data), [loaded.data]);

  if (loaded.error) return <ErrorBanner error={loaded.error} />;
  if (!agent) return <Busy label="Loading the agent" />;
  const changed = (a: AgentView) => {
    setAgent(a);
    setVersionsTick((t) => t + 1);
  };
  return (
    <>
      <h1>{agent.name}</h1>
      <p>
        Status <span class={`status status-${agent.status}`}>{agent.status}</span> · live version{" "}
        {agent.live_version ?? "none"} · latest {agent.latest_version}
        {agent.phone_number && <> · {agent.phone_number}</>}
      </p>
      <LifecycleButtons agent={agent} onChanged={changed} />
      <p>
        <a href={`#/agents/${encodeURIComponent(agent.id)}/knowledge`}>Knowledge documents</a> ·{" "}
        <a href={`#/agents/${encodeURIComponent(agent.id)}/conversations`}>Conversations</a> ·{" "}
        <a href={`#/agents/${encodeURIComponent(agent.id)}/creator`}>AgentCreator</a>
      </p>
      <DefinitionForm agent={agent} onSaved={changed} />
      <Versions agent={agent} tick={versionsTick} onChanged={changed} />
    </>
  );
}

function DefinitionForm({ agent, onSaved }: { agent: AgentView; onSaved: (a: AgentView) => void }) {
  const cc = agent.character_config as Record<string, string | undefined>;
  const [form, setForm] = useState(() => initial(agent));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setForm(initial(agent)), [agent.version]);

  const set = (key: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(null);
    let definition: unknown;
    try {
      definition = form.definition.trim() ? JSON.parse(form.definition) : null;
    } catch (e) {
      setError(new Error(`Other settings: not valid JSON (${(e as Error).message}).`));
      setBusy(false);
      return;
    }
    try {
      const updated = await api<AgentView>("PUT", `/api/v1/agents/${encodeURIComponent(agent.id)}`, {
        version: agent.version,
        name: form.name,
        description: form.description,
        character_config: {
          ...agent.character_config,
          business_name: form.business_name,
          tone: form.tone,
          persona: form.persona || null,
          extra_instructions: form.extra_instructions || null,
        },
        context: { store_hours: form.store_hours || null, contact_info: form.contact_info || null, website: form.website || null },
        definition,
        change_note: form.change_note || null,
      });
      onSaved(updated);
      setSaved(
        updated.latest_version !== updated.live_version
          ? `Saved as version ${updated.latest_version}. Publish it below to make it live.`
          : `Saved: version ${updated.latest_version} is live.`,
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const field = (label: string, key: keyof typeof form, apiField: string, multiline = false) => {
    const message = fieldError(error, apiField);
    const id = `f-${key}`;
    return (
      <div class="field">
        <label for={id}>{label}</label>
        {multiline ? (
          <textarea id={id} rows={4} value={form[key]} onInput={set(key)} aria-invalid={!!message} aria-describedby={message ? `${id}-err` : undefined} />
        ) : (
          <input id={id} value={form[key]} onInput={set(key)} aria-invalid={!!message} aria-describedby={message ? `${id}-err` : undefined} />
        )}
        {message && (
          <span id={`${id}-err`} class="field-error">
            {message}
          </span>
        )}
      </div>
    );
  };

  return (
    <Section title="Definition">
      <form class="form" onSubmit={submit} aria-label="Agent definition" noValidate>
        {field("Name", "name", "name")}
        {field("Description", "description", "description")}
        {field("Business name", "business_name", "character_config.business_name")}
        {field("Tone", "tone", "character_config.tone")}
        {field("Persona", "persona", "character_config.persona", true)}
        {field("Extra instructions", "extra_instructions", "character_config.extra_instructions", true)}
        {field("Opening hours", "store_hours", "context.store_hours")}
        {field("Contact", "contact_info", "context.contact_info")}
        {field("Website", "website", "context.website")}
        {field("Other settings (JSON: lines, workflow, tools, models, voice, guardrails, knowledge)", "definition", "definition", true)}
        {field("Change note", "change_note", "change_note")}
        <p class="muted">Business name {cc.business_name}; version {agent.version}.</p>
        <FieldErrors error={error} />
        {saved && <p role="status">{saved}</p>}
        <button type="submit" disabled={busy}>
          Save definition
        </button>
      </form>
    </Section>
  );
}

function initial(agent: AgentView) {
  const cc = agent.character_config as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === "string" ? v : "");
  const definition = Object.fromEntries(Object.entries(agent.definition ?? {}).filter(([, v]) => v !== null));
  return {
    name: agent.name,
    description: agent.description ?? "",
    business_name: text(cc.business_name),
    tone: text(cc.tone),
    persona: text(cc.persona),
    extra_instructions: text(cc.extra_instructions),
    store_hours: text(agent.context?.store_hours),
    contact_info: text(agent.context?.contact_info),
    website: text(agent.context?.website),
    definition: Object.keys(definition).length ? JSON.stringify(definition, null, 2) : "",
    change_note: "",
  };
}

function Versions({ agent, tick, onChanged }: { agent: AgentView; tick: number; onChanged: (a: AgentView) => void }) {
  const base = `/api/v1/agents/${encodeURIComponent(agent.id)}`;
  const { data, error } = useLoad(() => api<VersionPage>("GET", `${base}/versions`), [agent.id, tick]);
  const [left, setLeft] = useState<number | null>(null);
  const [right, setRight] = useState<number | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => {
    if (!data) return;
    setRight(data.latest_version);
    setLeft(data.live_version ?? data.items[data.items.length - 1]?.version ?? null);
  }, [data]);

  async function act(version: number, action: "publish" | "rollback") {
    setActionError(null);
    setDone(null);
    try {
      const updated = await api<AgentView>("POST", `${base}/versions/${version}/${action}`);
      setDone(action === "publish" ? `Version ${version} is live.` : `Rolled back: version ${version} is live.`);
      onChanged(updated);
    } catch (e) {
      setActionError(e);
    }
  }

  return (
    <Section title="Versions">
      <ErrorBanner error={error} />
      <ErrorBanner error={actionError} />
      {done && <p role="status">{done}</p>}
      {data && (
        <table>
          <caption class="sr-only">Definition versions, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">When</th>
              <th scope="col">Author and note</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((v) => (
              <tr key={v.version}>
                <td data-label="Version">
                  v{v.version} {v.live && <strong class="status status-active">live</strong>}
                </td>
                <td data-label="When">{when(v.created_at)}</td>
                <td data-label="Author and note">
                  {v.author} ({v.source}){v.note && <> — {v.note}</>}
                </td>
                <td data-label="Actions">
                  {!v.live && data.live_version !== null && v.version < data.live_version ? (
                    <button type="button" onClick={() => act(v.version, "rollback")}>
                      Roll back to v{v.version}
                    </button>
                  ) : (
                    !v.live && (
                      <button type="button" onClick={() => act(v.version, "publish")}>
                        Publish v{v.version}
                      </button>
                    )
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && data.items.length > 1 && (
        <div class="compare">
          <label>
            Compare
            <select value={left ?? ""} onChange={(e) => setLeft(Number(e.currentTarget.value))}>
              {data.items.map((v) => (
                <option key={v.version} value={v.version}>
                  v{v.version}
                </option>
              ))}
            </select>
          </label>{" "}
          <label>
            with
            <select value={right ?? ""} onChange={(e) => setRight(Number(e.currentTarget.value))}>
              {data.items.map((v) => (
                <option key={v.version} value={v.version}>
                  v{v.version}
                </option>
              ))}
            </select>
          </label>
          {left !== null && right !== null && left !== right && <SideBySide base={base} left={left} right={right} />}
        </div>
      )}
    </Section>
  );
}

function flatten(value: unknown, prefix = "", out: Record<string, string> = {}): Record<string, string> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return out;
}

function SideBySide({ base, left, right }: { base: string; left: number; right: number }) {
  const { data, error, loading } = useLoad(
    () =>
      Promise.all([
        api<VersionView>("GET", `${base}/versions/${left}`),
        api<VersionView>("GET", `${base}/versions/${right}`),
        api<VersionDiff>("GET", `${base}/versions/${right}/diff?against=${left}`),
      ]),
    [base, left, right],
  );
  if (error) return <ErrorBanner error={error} />;
  if (loading || !data) return <Busy label="Comparing versions" />;
  const [a, b, diff] = data;
  const changed = new Set(diff.changes.map((c) => c.path));
  const fa = flatten(a.spec);
  const fb = flatten(b.spec);
  const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].sort();
  const isChanged = (k: string) => fa[k] !== fb[k] || [...changed].some((p) => k === p || k.startsWith(`${p}.`));
  return (
    <>
      <p role="status">
        {diff.changes.length === 0
          ? `v${left} and v${right} are the same.`
          : `${diff.changes.length} change${diff.changes.length > 1 ? "s" : ""} from v${left} to v${right}: ${diff.changes.map((c) => `${c.path} (${c.change})`).join(", ")}.`}
      </p>
      <div class="table-scroll">
        <table class="diff">
          <caption class="sr-only">
            Side-by-side: v{left} and v{right}
          </caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">v{left}</th>
              <th scope="col">v{right}</th>
            </tr>
          </thead>
          <tbody>
            {keys.filter(isChanged).concat(keys.filter((k) => !isChanged(k))).map((k) => (
              <tr key={k} class={isChanged(k) ? "changed" : ""}>
                <th scope="row">
                  {k}
                  {isChanged(k) && <span class="sr-only"> (changed)</span>}
                </th>
                <td class="before">{fa[k] ?? "—"}</td>
                <td class="after">{fb[k] ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
