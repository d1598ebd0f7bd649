// Knowledge documents: upload (the API's presigned S3 POST, with progress), then each document's ingestion status
// polled until it is indexed or failed (with the reason).
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { KnowledgeDocument, KnowledgeUpload } from "../types";
import { Busy, ErrorBanner, Section, bytes, when } from "../ui";

const POLL_MS = 2000;
const SETTLED = new Set(["indexed", "failed"]);
const STATUS_WORDS: Record<string, string> = {
  awaiting_upload: "waiting for the file",
  uploaded: "uploaded, queued for indexing",
  ingesting: "indexing",
  indexed: "indexed: the agent can quote it",
  failed: "failed",
};

function postWithProgress(upload: KnowledgeUpload["upload"], file: File, onProgress: (pct: number) => void) {
  return new Promise<void>((resolve, reject) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append("file", file); // S3 requires the file to be the last field
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((e.loaded / e.total) * 100));
    xhr.onload = () =>
      xhr.status >= 200 && xhr.status < 300
        ? resolve()
        : reject(new Error(`The storage service refused the upload (${xhr.status}). ${s3Message(xhr.responseText)}`));
    xhr.onerror = () => reject(new Error("The upload could not reach the storage service. Try again."));
    xhr.send(form);
  });
}

function s3Message(xml: string): string {
  const m = /<Message>([^<]*)<\/Message>/.exec(xml);
  return m ? m[1] : "";
}

export function KnowledgePage({ agentId }: { agentId: string }) {
  const base = `/api/v1/agents/${encodeURIComponent(agentId)}/knowledge`;
  const [docs, setDocs] = useState<KnowledgeDocument[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [uploadError, setUploadError] = useState<unknown>(null);
  const [uploads, setUploads] = useState(0); // finished uploads: each one starts the status polling again

  async function refresh() {
    try {
      const list = await api<{ items: KnowledgeDocument[] }>("GET", base);
      setDocs(list.items);
      setError(null);
      return list.items;
    } catch (e) {
      setError(e);
      return null;
    }
  }

  useEffect(() => {
    let timer = 0;
    let live = true;
    const loop = async () => {
      const items = await refresh();
      if (live && items && items.some((d) => !SETTLED.has(d.status) && d.status !== "awaiting_upload")) {
        timer = window.setTimeout(loop, POLL_MS);
      }
    };
    loop();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [agentId, uploads]);

  async function submit(event: Event) {
    event.preventDefault();
    if (!file) {
      setUploadError(new Error("Choose a file to upload first."));
      return;
    }
    setUploadError(null);
    setProgress(0);
    try {
      const announced = await api<KnowledgeUpload>("POST", base, {
        file_name: file.name,
        content_type: file.type || "application/octet-stream",
        size_bytes: file.size,
      });
      await postWithProgress(announced.upload, file, setProgress);
      setProgress(100);
      setUploads((n) => n + 1);
    } catch (e) {
      setProgress(null);
      setUploadError(e);
    }
  }

  return (
    <>
      <h1>Knowledge</h1>
      <p>
        <a href={`#/agents/${encodeURIComponent(agentId)}`}>Back to the agent</a>
      </p>
      <Section title="Upload a document">
        <form class="form" onSubmit={submit} aria-label="Upload a document">
          <label>
            Document (PDF, Word, text, HTML, Markdown, CSV)
            <input type="file" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
          </label>
          <button type="submit" disabled={progress !== null && progress < 100}>
            Upload
          </button>
          {progress !== null && (
            <label>
              Upload progress
              <progress max={100} value={progress}>
                {progress}%
              </progress>
              <span role="status"> {progress === 100 ? "Uploaded" : `${progress}%`}</span>
            </label>
          )}
          <ErrorBanner error={uploadError} />
        </form>
      </Section>
      <Section title="Documents">
        <ErrorBanner error={error} />
        {!docs && !error && <Busy label="Loading documents" />}
        {docs && docs.length === 0 && <p>No documents yet.</p>}
        {docs && docs.length > 0 && (
          <table>
            <caption class="sr-only">Knowledge documents and their indexing status</caption>
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">Size</th>
                <th scope="col">Status</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody aria-live="polite">
              {docs.map((d) => (
                <tr key={d.document_id}>
                  <td data-label="File">{d.file_name}</td>
                  <td data-label="Size">{bytes(d.size_bytes)}</td>
                  <td data-label="Status">
                    <span class={`status doc-${d.status}`}>{STATUS_WORDS[d.status] ?? d.status}</span>
                    {d.detail && <div class="field-error">{d.detail}</div>}
                  </td>
                  <td data-label="Updated">{when(d.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
