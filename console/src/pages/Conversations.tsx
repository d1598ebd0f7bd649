// Conversations: newest first, filtered by channel, date and outcome; one conversation as a transcript.
import { useState } from "preact/hooks";
import { ApiError, api } from "../api";
import type { ConversationCosts, ConversationDetail, ConversationPage, ConversationSummary } from "../types";
import { Busy, ErrorBanner, Section, useLoad, usd, when } from "../ui";

const PAGE = 50;

export function ConversationsPage({ agentId }: { agentId: string }) {
  const base = `/api/v1/agents/${encodeURIComponent(agentId)}/conversations`;
  const [items, setItems] = useState<ConversationSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const [channel, setChannel] = useState("");
  const [outcome, setOutcome] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const first = useLoad(async () => {
    const page = await api<ConversationPage>("GET", `${base}?limit=${PAGE}`);
    setItems(page.items);
    setNext(page.next_token);
    return page;
  }, [agentId]);

  async function more() {
    if (!next) return;
    try {
      const page = await api<ConversationPage>("GET", `${base}?limit=${PAGE}&next_token=${encodeURIComponent(next)}`);
      setItems([...items, ...page.items]);
      setNext(page.next_token);
    } catch (e) {
      setMoreError(e);
    }
  }

  const channels = [...new Set(items.map((c) => c.channel))].sort();
  const outcomes = [...new Set(items.map((c) => c.outcome ?? "in progress"))].sort();
  const shown = items.filter(
    (c) =>
      (!channel || c.channel === channel) &&
      (!outcome || (c.outcome ?? "in progress") === outcome) &&
      (!from || c.started_at.slice(0, 10) >= from) &&
      (!to || c.started_at.slice(0, 10) <= to),
  );

  return (
    <>
      <h1>Conversations</h1>
      <p>
        <a href={`#/agents/${encodeURIComponent(agentId)}`}>Back to the agent</a>
      </p>
      <form class="filters" aria-label="Filter conversations" onSubmit={(e) => e.preventDefault()}>
        <label>
          Channel
          <select value={channel} onChange={(e) => setChannel(e.currentTarget.value)}>
            <option value="">all</option>
            {channels.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Outcome
          <select value={outcome} onChange={(e) => setOutcome(e.currentTarget.value)}>
            <option value="">all</option>
            {outcomes.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label>
          From (UTC day)
          <input type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To (UTC day)
          <input type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
      </form>
      <ErrorBanner error={first.error} />
      {first.loading && <Busy label="Loading conversations" />}
      {!first.loading && !first.error && shown.length === 0 && <p>No conversations match.</p>}
      {shown.length > 0 && (
        <table>
          <caption class="sr-only">Conversations, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Channel</th>
              <th scope="col">From</th>
              <th scope="col">Outcome</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.conversation_id}>
                <td data-label="Started">
                  <a href={`#/agents/${encodeURIComponent(agentId)}/conversations/${encodeURIComponent(c.conversation_id)}`}>
                    {when(c.started_at)}
                  </a>
                </td>
                <td data-label="Channel">{c.channel}</td>
                <td data-label="From">{c.caller_number ?? "—"}</td>
                <td data-label="Outcome">{c.outcome ?? c.status}</td>
                <td data-label="Duration">{c.duration_seconds != null ? `${c.duration_seconds} s` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorBanner error={moreError} />
      {next && (
        <button type="button" onClick={more}>
          Load older conversations
        </button>
      )}
    </>
  );
}

const TRANSFER_TOOLS = /transfer|handoff|human/i;

// A conversation without an analysis (yet) or a recording answers 404 for that part: not an error to the vendor.
function missing(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

export function ConversationPage({ agentId, conversationId }: { agentId: string; conversationId: string }) {
  const base = `/api/v1/agents/${encodeURIComponent(agentId)}/conversations/${encodeURIComponent(conversationId)}`;
  const detail = useLoad(() => api<ConversationDetail>("GET", base), [base]);
  // The extras are optional: a conversation without a recording or an analysis answers 404 for that part only.
  const costs = useLoad(() => api<ConversationCosts>("GET", `${base}/costs`), [base]);
  const analysis = useLoad(() => api<Record<string, unknown>>("GET", `${base}/analysis`), [base]);
  const recording = useLoad(() => api<{ url: string; expires_at: string }>("GET", `${base}/recording`), [base]);

  if (detail.error) return <ErrorBanner error={detail.error} />;
  if (!detail.data) return <Busy label="Loading the conversation" />;
  const { conversation: c, turns, total_cost_usd } = detail.data;
  return (
    <>
      <h1>Conversation on {c.channel}</h1>
      <p>
        <a href={`#/agents/${encodeURIComponent(agentId)}/conversations`}>All conversations</a>
      </p>
      <p>
        {when(c.started_at)} · {c.caller_number ?? "unknown caller"} · {c.outcome ?? c.status}
        {c.duration_seconds != null && <> · {c.duration_seconds} s</>} · model cost {usd(total_cost_usd)}
      </p>
      {recording.data && (
        <Section title="Recording">
          <audio controls preload="none" src={recording.data.url} aria-label="Call recording">
            <a href={recording.data.url}>Download the recording</a>
          </audio>
          <p class="muted">The link expires {when(recording.data.expires_at)}.</p>
        </Section>
      )}
      <Section title="Transcript">
        {turns.length === 0 && <p>No turns were recorded for this conversation.</p>}
        <ol class="transcript">
          {turns.map((t) => (
            <li key={t.sequence}>
              {t.user_text && (
                <div class="turn caller">
                  <span class="who">Caller</span> <time dateTime={t.at}>{when(t.at)}</time>
                  <p>{t.user_text}</p>
                </div>
              )}
              {t.tools.map((tool, i) => (
                <div key={i} class={TRANSFER_TOOLS.test(tool) ? "turn transfer" : "turn tool"}>
                  <span class="who">{TRANSFER_TOOLS.test(tool) ? "Transfer" : "Tool call"}</span> {tool}
                </div>
              ))}
              <div class="turn agent">
                <span class="who">Agent ({t.role})</span> <time dateTime={t.at}>{when(t.at)}</time>
                <p>{t.agent_text}</p>
                <span class="muted">
                  {t.model_id ?? "no model"} · {Math.round(t.latency_ms)} ms · {usd(t.cost_usd)}
                  {t.outcome !== "ok" && <> · {t.outcome}</>}
                </span>
              </div>
            </li>
          ))}
        </ol>
        {c.outcome === "transferred" && <p class="turn transfer">The conversation was transferred to a person.</p>}
      </Section>
      <Section title="Cost breakdown">
        {missing(costs.error) ? (
          <p>No costs were recorded for this conversation.</p>
        ) : costs.error ? (
          <ErrorBanner error={costs.error} />
        ) : costs.data ? (
          <table>
            <caption class="sr-only">What this conversation cost, by category</caption>
            <thead>
              <tr>
                <th scope="col">Category</th>
                <th scope="col">Item</th>
                <th scope="col">Cost</th>
              </tr>
            </thead>
            <tbody>
              {costs.data.lines.map((l, i) => (
                <tr key={i}>
                  <td data-label="Category">{l.category}</td>
                  <td data-label="Item">{l.item}</td>
                  <td data-label="Cost">
                    {usd(l.usd)}
                    {l.estimated && " (estimate)"}
                  </td>
                </tr>
              ))}
              <tr>
                <th scope="row" colSpan={2}>
                  Total
                </th>
                <td>{usd(costs.data.total_usd)}</td>
              </tr>
            </tbody>
          </table>
        ) : (
          <Busy label="Loading costs" />
        )}
      </Section>
      <Section title="Post-call summary">
        {missing(analysis.error) ? (
          <p>No post-call summary for this conversation yet.</p>
        ) : analysis.error ? (
          <ErrorBanner error={analysis.error} />
        ) : analysis.data ? (
          <dl class="analysis">
            {Object.entries(analysis.data).map(([k, v]) => (
              <div key={k}>
                <dt>{k.replace(/_/g, " ")}</dt>
                <dd>{typeof v === "string" ? v : JSON.stringify(v)}</dd>
              </div>
            ))}
          </dl>
        ) : (
          <Busy label="Loading the summary" />
        )}
      </Section>
    </>
  );
}
