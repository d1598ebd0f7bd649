// Usage: spend by day and by category over a range of UTC days, as bar charts (with the same figures in a
// table), against the monthly budget the agents' definitions set (definition.models.monthly_budget_usd).
import { useState } from "preact/hooks";
import { api } from "../api";
import type { AgentPage, UsageReport } from "../types";
import { Busy, ErrorBanner, Section, useLoad, usd } from "../ui";

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function monthStart(): string {
  const now = new Date();
  return isoDay(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)));
}

export function budgetOf(page: AgentPage): number | null {
  const budgets = page.items
    .map((a) => (a.definition?.models as { monthly_budget_usd?: number | null } | undefined)?.monthly_budget_usd)
    .filter((b): b is number => typeof b === "number");
  return budgets.length ? budgets.reduce((s, b) => s + b, 0) : null;
}

export function UsagePage() {
  const [from, setFrom] = useState(monthStart());
  const [to, setTo] = useState(isoDay(new Date()));
  const [range, setRange] = useState({ from, to });
  const report = useLoad(
    () =>
      Promise.all(
        (["day", "category"] as const).map((g) =>
          api<UsageReport>("GET", `/api/v1/usage?from=${range.from}&to=${range.to}&group_by=${g}`),
        ),
      ),
    [range.from, range.to],
  );
  const agents = useLoad(() => api<AgentPage>("GET", "/api/v1/agents?limit=100"), []);
  const budget = agents.data ? budgetOf(agents.data) : null;

  return (
    <>
      <h1>Usage</h1>
      <form
        class="filters"
        aria-label="Usage range"
        onSubmit={(e) => {
          e.preventDefault();
          setRange({ from, to });
        }}
      >
        <label>
          From (UTC day)
          <input type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To (UTC day)
          <input type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <button type="submit">Show</button>
      </form>
      <ErrorBanner error={report.error} />
      {report.loading && <Busy label="Loading usage" />}
      {report.data && (
        <>
          <p role="status">
            Spent {usd(report.data[0].total_usd)} from {report.data[0].from} to {report.data[0].to}
            {budget !== null
              ? `, against a monthly budget of ${usd(budget)} (${Math.round((report.data[0].total_usd / budget) * 100)}%).`
              : ". No monthly budget is set in your agents' definitions (models.monthly_budget_usd)."}
          </p>
          <Section title="Cost by day">
            <BarChart lines={report.data[0].lines} budget={budget} label="Cost by day" />
          </Section>
          <Section title="Cost by category">
            <BarChart lines={report.data[1].lines} budget={null} label="Cost by category" />
          </Section>
        </>
      )}
    </>
  );
}

function BarChart({ lines, budget, label }: { lines: { key: string; usd: number }[]; budget: number | null; label: string }) {
  if (!lines.length) return <p>No spend in this range.</p>;
  const width = 320;
  const row = 22;
  // The daily budget line: the monthly budget spread over 30 days, only on the by-day chart.
  const daily = budget !== null ? budget / 30 : null;
  const max = Math.max(...lines.map((l) => l.usd), daily ?? 0) || 1;
  return (
    <>
      <svg
        class="chart"
        viewBox={`0 0 ${width + 160} ${lines.length * row + 10}`}
        role="img"
        aria-label={`${label}: bar chart, the same figures are in the table below`}
      >
        {lines.map((l, i) => (
          <g key={l.key}>
            <text x={0} y={i * row + 15} class="chart-label">
              {l.key}
            </text>
            <rect x={100} y={i * row + 4} height={row - 8} width={Math.max(1, (l.usd / max) * width)} class="chart-bar">
              <title>
                {l.key}: {usd(l.usd)}
              </title>
            </rect>
            <text x={104 + (l.usd / max) * width} y={i * row + 15} class="chart-value">
              {usd(l.usd)}
            </text>
          </g>
        ))}
        {daily !== null && (
          <line x1={100 + (daily / max) * width} x2={100 + (daily / max) * width} y1={0} y2={lines.length * row + 10} class="chart-budget">
            <title>daily share of the monthly budget: {usd(daily)}</title>
          </line>
        )}
      </svg>
      <table>
        <caption class="sr-only">{label}</caption>
        <tbody>
          {lines.map((l) => (
            <tr key={l.key}>
              <th scope="row">{l.key}</th>
              <td>{usd(l.usd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
