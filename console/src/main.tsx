// The console's shell: loads /config.json, signs in, then routes by the URL hash (#/agents, #/usage, ...).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { configureApi } from "./api";
import { configure, currentEmail, signOut } from "./auth";
import { loadConfig } from "./config";
import { CreatorPage } from "./creator/CreatorPage";
import { AgentPage } from "./pages/Agent";
import { AgentsPage } from "./pages/Agents";
import { ConversationPage, ConversationsPage } from "./pages/Conversations";
import { KnowledgePage } from "./pages/Knowledge";
import { SignInPage } from "./pages/SignIn";
import { UsagePage } from "./pages/Usage";
import "./styles.css";

function useHash(): string {
  const [hash, setHash] = useState(location.hash || "#/agents");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/agents");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function route(hash: string) {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const [top, id, sub, subId] = parts;
  if (top === "usage") return <UsagePage />;
  if (top === "agents" && id) {
    if (sub === "knowledge") return <KnowledgePage agentId={id} />;
    if (sub === "creator") return <CreatorPage agentId={id} />;
    if (sub === "conversations" && subId) return <ConversationPage agentId={id} conversationId={subId} />;
    if (sub === "conversations") return <ConversationsPage agentId={id} />;
    return <AgentPage agentId={id} />;
  }
  if (top === "agents" || !top) return <AgentsPage />;
  return <p role="alert">There is no page at {hash}. Go to <a href="#/agents">your agents</a>.</p>;
}

function App() {
  const [ready, setReady] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);
  const [email, setEmail] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const hash = useHash();

  useEffect(() => {
    loadConfig()
      .then((config) => {
        configure(config);
        configureApi(config.apiBaseUrl, () => {
          setEmail(null);
          setNotice("Your session has ended. Sign in again.");
        });
        setReady(true);
      })
      .catch((e: Error) => setStartError(e.message));
  }, []);

  if (startError) return <p role="alert" class="error">{startError}</p>;
  if (!ready) return <p role="status">Loading the console…</p>;
  if (!email || !currentEmail()) return <SignInPage notice={notice} onSignedIn={(e) => (setNotice(null), setEmail(e))} />;
  const active = (prefix: string) => (hash.startsWith(prefix) ? "page" : undefined);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header>
        <nav aria-label="Main">
          <strong>Oratio</strong>
          <a href="#/agents" aria-current={active("#/agents")}>Agents</a>
          <a href="#/usage" aria-current={active("#/usage")}>Usage</a>
          <span class="muted">{email}</span>
          <button type="button" onClick={() => (signOut(), setEmail(null))}>
            Sign out
          </button>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {route(hash)}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
