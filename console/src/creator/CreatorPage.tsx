// AgentCreator: paste or upload an SOP, watch the job stage by stage, read the requirement-to-test report,
// approve (publish) the candidate version.
import { useEffect, useState } from "preact/hooks";
import { errorWords } from "../api";
import { Busy, ErrorBanner, Section, usd, when } from "../ui";
import { STAGES, STAGE_WORDS, approve, getJob, retryJob, submitSop, type CreatorJobDetail } from "./contract";

const POLL_MS = 1500;

export function CreatorPage({ agentId }: { agentId: string }) {
  const [sop, setSop] = useState("");
  const [jobId, setJobId] = useState<string | null>(null);
  const [job, setJob] = useState<CreatorJobDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [approved, setApproved] = useState<string | null>(null);

  useEffect(() => {
    if (!jobId) return;
    let live = true;
    let timer = 0;
    const poll = async () => {
      try {
        const j = await getJob(jobId);
        if (!live) return;
        setJob(j);
        setError(null);
        if (j.status === "queued" || j.status === "running") timer = window.setTimeout(poll, POLL_MS);
      } catch (e) {
        if (live) setError(e);
      }
    };
    poll();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [jobId]);

  async function submit(event: Event) {
    event.preventDefault();
    if (!sop.trim()) {
      setError(new Error("Paste the SOP or choose its file first."));
      return;
    }
    setError(null);
    setJob(null);
    setApproved(null);
    try {
      setJobId((await submitSop(agentId, sop)).job_id);
    } catch (e) {
      setError(e);
    }
  }

  async function readFile(file: File | undefined) {
    if (!file) return;
    try {
      setSop(await file.text());
    } catch {
      setError(new Error(`${file.name} could not be read as text.`));
    }
  }

  return (
    <>
      <h1>AgentCreator</h1>
      <p>
        <a href={`#/agents/${encodeURIComponent(agentId)}`}>Back to the agent</a>
      </p>
      <Section title="Your SOP">
        <form class="form" onSubmit={submit} aria-label="Submit an SOP">
          <label>
            SOP (Markdown or plain text)
            <textarea rows={10} value={sop} onInput={(e) => setSop(e.currentTarget.value)} />
          </label>
          <label>
            Or upload the SOP file
            <input type="file" accept=".md,.txt,text/plain,text/markdown" onChange={(e) => readFile(e.currentTarget.files?.[0])} />
          </label>
          <button type="submit">Create the agent from this SOP</button>
        </form>
      </Section>
      <ErrorBanner error={error} />
      {jobId && !job && <Busy label="Starting the job" />}
      {job && <JobView job={job} onApproved={setApproved} onRetried={(id) => (setJob(null), setJobId(id))} />}
      {approved && <p role="status">{approved}</p>}
    </>
  );
}

function JobView({
  job,
  onApproved,
  onRetried,
}: {
  job: CreatorJobDetail;
  onApproved: (words: string) => void;
  onRetried: (jobId: string) => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const latest = (stage: string) => [...job.stages].reverse().find((s) => s.stage === stage);
  return (
    <>
      <Section title="Job">
        <p role="status" aria-live="polite">
          Job {job.job_id}: {job.status}
          {job.current_stage && job.status === "running" && <> — {STAGE_WORDS[job.current_stage] ?? job.current_stage}</>}
          {" "}· cost so far {usd(job.cost_usd)}
        </p>
        <ol class="stages">
          {STAGES.map((stage) => {
            const record = latest(stage);
            const status = record?.status ?? "waiting";
            return (
              <li key={stage} class={`stage stage-${status}`}>
                <strong>{STAGE_WORDS[stage]}</strong>: {status}
                {record && record.attempt > 1 && <> (attempt {record.attempt})</>}
                {record?.finished_at && <span class="muted"> · {when(record.finished_at)}</span>}
                {record?.error && <div class="field-error">{record.error}</div>}
              </li>
            );
          })}
        </ol>
        {job.error && (
          <div class="error" role="alert">
            <p>
              {STAGE_WORDS[job.error.stage] ?? job.error.stage} failed: {job.error.message}
            </p>
            <p>{job.error.next_step}</p>
            {job.error.retryable && (
              <button
                type="button"
                onClick={() => retryJob(job).then((a) => onRetried(a.job_id), setError)}
              >
                Retry from this stage
              </button>
            )}
          </div>
        )}
      </Section>
      {job.report && (
        <Section title="Requirement-to-test report">
          {job.report.traces && job.report.traces.length > 0 ? (
            <div class="table-scroll">
              <table>
                <caption class="sr-only">Each requirement of the SOP and what covers it</caption>
                <thead>
                  <tr>
                    <th scope="col">Requirement</th>
                    <th scope="col">Plan</th>
                    <th scope="col">Definition fields</th>
                    <th scope="col">Tests</th>
                    <th scope="col">Result</th>
                  </tr>
                </thead>
                <tbody>
                  {job.report.traces.map((t) => (
                    <tr key={t.requirement_id}>
                      <td data-label="Requirement">
                        <strong>{t.requirement_id}</strong> {t.text}
                      </td>
                      <td data-label="Plan">{t.plan_elements.join(", ") || "—"}</td>
                      <td data-label="Definition fields">{t.definition_fields.join(", ") || "—"}</td>
                      <td data-label="Tests">{t.test_scripts.join(", ") || "—"}</td>
                      <td data-label="Result" class={`gate-${t.gate}`}>
                        {t.gate}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <p>The report lists no requirements.</p>
          )}
          {job.report.uncovered && job.report.uncovered.length > 0 && (
            <p class="field-error">Not covered: {job.report.uncovered.join(", ")}</p>
          )}
          {job.report.gate_failures?.map((f) => (
            <p key={f.name} class="field-error">
              Test {f.name} failed: {f.failure}
            </p>
          ))}
        </Section>
      )}
      {job.candidate && (
        <Section title="Approve">
          <p>
            AgentCreator wrote version {job.candidate.version}. Review it on the{" "}
            <a href={`#/agents/${encodeURIComponent(job.agent_id)}`}>agent's page</a> (side-by-side diff), then
            approve it to make it live.
          </p>
          <button
            type="button"
            onClick={() =>
              approve(job).then(
                () => onApproved(`Version ${job.candidate?.version} is live.`),
                (e) => setError(e),
              )
            }
          >
            Approve version {job.candidate.version}
          </button>
        </Section>
      )}
      {error ? <p class="error" role="alert">{errorWords(error)}</p> : null}
    </>
  );
}
