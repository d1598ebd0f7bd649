"""The vendor console in a real browser: Debian's headless chromium, driven by Playwright, on the built console
(`console/dist`) served with the vendor API Lambda handler in process over moto (tests/vendor_api_harness), the
Cognito sign-in stand-in (SRP + TOTP over Cognito's wire protocol, spoken by the console's real Cognito client)
and the local S3 presigned-POST endpoint. One browser for all of them; screenshots of each page are written under
build/test-output/console/ (ORATIO_TEST_OUTPUT overrides the folder)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyotp
import pytest

from oratio.adapters.dynamodb_ingestion import DynamoDBDocumentStatusStore, DynamoDBIngestionStateStore
from oratio.creator_launch import InProcessLauncher
from oratio.tables import KNOWLEDGE_DOCUMENTS, TENANT_STATE
from oratio.vendors.ingestion import IngestionCoordinator
from oratio_local.cognito_standin import CognitoStandIn
from oratio_local.console_server import CONSOLE_DIST, ConsoleServer, LocalIngestionJobs, LocalKnowledge
from tests.vendor_api_harness import (
    MAX_AGENTS,
    REGION,
    VENDOR_A,
    VendorApi,
    deployed_api,
    knowledge_bucket,
    seed_call,
)

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is pinned in requirements-dev.txt")

EMAIL = "owner@cozy-comfort.example"
PASSWORD = "correct horse battery staple 42"
TOTP_SECRET = pyotp.random_base32()
OUTPUT = Path(os.environ.get("ORATIO_TEST_OUTPUT", "build/test-output")) / "console"
CHROMIUM_HELP = (
    "Debian's chromium is needed for the console's browser tests and was not found on PATH. Install it with "
    "`apt-get install -y chromium` (as root; `make setup` does this when it can), or set ORATIO_CHROMIUM to a "
    "Chromium/Chrome executable."
)


def chromium_path() -> str:
    path = os.environ.get("ORATIO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(CHROMIUM_HELP, pytrace=False)
    return path


def _aws_env(mp: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "OratioTest",
        "POWERTOOLS_SERVICE_NAME": "oratio-test",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        mp.setenv(key, value)
    mp.delenv("AWS_PROFILE", raising=False)


def seed_conversation(api: VendorApi, agent_id: str, contact_id: str) -> None:
    """A recorded call (the recorder is async; Playwright's sync API holds this thread's event loop)."""
    worker = threading.Thread(target=seed_call, args=(api, VENDOR_A, agent_id, contact_id))
    worker.start()
    worker.join()


class Console:
    """The running local console and what the tests reach behind it."""

    def __init__(self, server: ConsoleServer, api: VendorApi, cognito: CognitoStandIn) -> None:
        self.server, self.api, self.cognito = server, api, cognito
        self.url = server.url


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    if not (CONSOLE_DIST / "index.html").is_file():
        pytest.fail("the console is not built: run `make setup` (npm ci && npm run build in console/)", pytrace=False)
    with pytest.MonkeyPatch.context() as mp:
        _aws_env(mp)
        mp.setitem(MAX_AGENTS, VENDOR_A, 50)  # every test adds its own agents to the one vendor
        with deployed_api(mp, prefix="oratio-console-", rate_limit=10_000) as api:
            cognito = CognitoStandIn()
            cognito.add_user(EMAIL, PASSWORD, VENDOR_A, TOTP_SECRET)
            s3 = boto3.client("s3", region_name=REGION)
            bucket = knowledge_bucket(VENDOR_A)
            coordinator = IngestionCoordinator(
                tenant_id=VENDOR_A,
                documents=DynamoDBDocumentStatusStore(
                    api.aws["tables"][KNOWLEDGE_DOCUMENTS.key], client=api.aws["dynamodb"]
                ),
                state=DynamoDBIngestionStateStore(api.aws["tables"][TENANT_STATE.key], client=api.aws["dynamodb"]),
                jobs=LocalIngestionJobs(
                    lambda: [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
                    lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
                    looks_to_finish=3,  # indexed only if the console keeps polling after the upload
                ),
                clock=api.clock,
            )
            launcher = _run_creator_jobs_for_real(api)
            server = ConsoleServer(
                api.handler.lambda_handler, cognito, knowledge={bucket: LocalKnowledge(bucket, s3, coordinator)}
            )
            server.start()
            try:
                yield Console(server, api, cognito)
            finally:
                server.stop()
                # A job still running would write into the next test's moto (its backends are process-wide).
                assert launcher.wait() == [], "an AgentCreator job was still running when the console stopped"


def _run_creator_jobs_for_real(api: VendorApi) -> InProcessLauncher:
    """The vendor API's real AgentCreator routes with a launcher that runs each job in this process on a thread
    (`oratio.creator_launch.InProcessLauncher`, the local path), as the AgentCreator runtime runs it: the local
    rule-based stage model drives every stage, the gate is the full call replay (in its child interpreter), the
    candidate is written through the API's own agent repository."""
    from agentcore.agent_creator.wiring import JobRunner
    from oratio.agent_creator.pipeline import PipelineDeps
    from oratio.agent_creator.writer import InMemoryArtifacts
    from oratio.config import load_tenant_file
    from oratio.vendors.creator import CreatorService
    from oratio.vendors.creator_versions import RepositoryVersionWriter
    from oratio_local.creator_gate import ReplayGate
    from oratio_local.creator_model import LocalCreatorModel

    tenants = Path(__file__).resolve().parents[2] / "tenants"
    handler: Any = api.handler
    service = handler.service_factory()
    writer, artifacts = RepositoryVersionWriter(service.agents), InMemoryArtifacts()

    def deps(tenant: Any) -> PipelineDeps:
        return PipelineDeps(tenant=tenant, store=api.creator_jobs, model=LocalCreatorModel(tenant),
                            gate=ReplayGate(tenants), artifacts=artifacts, versions=writer)  # fmt: skip

    runner = JobRunner({VENDOR_A: load_tenant_file(tenants / f"{VENDOR_A}.yaml")}, deps)
    launcher = InProcessLauncher(runner, background=True)
    creator = CreatorService(agents=service.agents, versions=service.versions, jobs=api.creator_jobs,
                             launcher=launcher, audit=handler.operations_service().record,
                             clock=api.clock)  # fmt: skip
    handler.creator_factory = lambda: creator
    return launcher


# Module scope, not session: while Playwright's sync API is running it holds an asyncio loop on this thread, and
# every later test that calls asyncio.run() would fail. This module is where all the browser tests live.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, console: Console, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (nothing kept from another test), with CSP violations and page errors recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: page.problems.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None,
    )
    page.set_default_timeout(10_000)
    yield page
    shot(page, f"last-{request.node.name}")
    assert page.problems == []
    context.close()


def shot(page: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def sign_in(page: Any, console: Console) -> None:
    page.goto(console.url)
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(TOTP_SECRET).now())
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Agents").wait_for()


def unlabelled_controls(page: Any) -> list[str]:
    """Controls a screen reader could not name (no label, aria-label or text)."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                              && !(el.tagName === 'BUTTON' && el.textContent.trim()))
                .map(el => el.outerHTML.slice(0, 80))"""
        )
    )


# ------------------------------------------------------------------------------------------------- sign-in
def test_vendor_signs_in_with_password_and_totp_and_sees_their_agents(page: Any, console: Console) -> None:
    console.api.create(name="Front desk")
    page.goto(console.url)
    shot(page, "01-sign-in")
    # Keyboard only: the e-mail field has focus, Tab reaches the password, Enter submits.
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    code = page.get_by_label("Code from your authenticator app")
    code.wait_for()
    shot(page, "02-sign-in-totp")
    page.keyboard.type(pyotp.TOTP(TOTP_SECRET).now())
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Agents").wait_for()
    page.get_by_role("link", name="Front desk").wait_for()
    # Tokens are in memory only.
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert page.context.cookies() == []
    assert unlabelled_controls(page) == []
    shot(page, "03-agents")


def test_wrong_password_and_wrong_code_are_said_in_words(page: Any, console: Console) -> None:
    page.goto(console.url)
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "The e-mail address or password is not right."
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Code from your authenticator app").fill(
        "000000" if pyotp.TOTP(TOTP_SECRET).now() != "000000" else "111111"
    )
    page.get_by_role("button", name="Continue").click()
    assert "That code is not right" in page.get_by_role("alert").inner_text()


def test_an_expired_session_returns_to_sign_in(page: Any, console: Console) -> None:
    sign_in(page, console)
    console.cognito.expire_tokens()  # the API's authorizer now refuses the token: 401
    # Go to another page by its address: a click on the nav link races the console's own refresh, which may
    # already have met the 401 and taken the page (and the link) to sign-in.
    page.evaluate("() => { window.location.hash = '#/usage' }")
    page.get_by_role("heading", name="Sign in to Oratio").wait_for()
    assert page.get_by_role("status").inner_text() == "Your session has ended. Sign in again."


# ------------------------------------------------------------------------------ create, edit and publish
def test_vendor_creates_an_agent_edits_it_compares_versions_and_publishes(page: Any, console: Console) -> None:
    sign_in(page, console)
    page.get_by_label("Agent name").fill("Night line")
    page.get_by_label("Business name").fill("Cozy Comfort Bedding")
    page.get_by_role("button", name="Create agent").click()
    page.get_by_role("status").filter(has_text="as a draft").get_by_role("link", name="Night line").click()
    page.get_by_role("heading", name="Night line").wait_for()
    # Only what the API allows a draft: start and delete; no pause/stop.
    lifecycle = page.locator(".lifecycle").first
    assert sorted(lifecycle.get_by_role("button").all_inner_texts()) == ["Delete", "Start"]
    page.get_by_role("button", name="Start Night line").click()
    lifecycle.get_by_role("button", name="Pause Night line").wait_for()
    assert sorted(lifecycle.get_by_role("button").all_inner_texts()) == ["Delete", "Pause", "Stop"]
    # An active agent's edit is a new version that waits for a publish.
    page.get_by_label("Persona").fill("A calm night-shift helper who keeps answers short.")
    page.get_by_label("Change note").fill("night persona")
    page.get_by_role("button", name="Save definition").click()
    page.get_by_text("Saved as version 2. Publish it below to make it live.").wait_for()
    # Side-by-side: v1 and v2, the persona row marked as changed.
    changed = page.locator("table.diff tr.changed", has_text="persona")
    changed.first.wait_for()
    assert "A calm night-shift helper" in changed.first.inner_text()
    shot(page, "04-agent-diff")
    page.get_by_role("button", name="Publish v2").click()
    page.get_by_text("Version 2 is live.").wait_for()
    agent = next(a for a in console.api.call("GET", "/api/v1/agents").body["items"] if a["name"] == "Night line")
    assert agent["live_version"] == 2
    assert agent["character_config"]["persona"] == "A calm night-shift helper who keeps answers short."
    shot(page, "05-agent-published")


def test_stop_asks_first_and_cancel_keeps_the_agent_running(page: Any, console: Console) -> None:
    agent = console.api.provision(name="Day line", channels=["chat"])
    sign_in(page, console)
    row = page.get_by_role("row", name="Day line")
    row.get_by_role("button", name="Stop Day line").click()
    dialog = page.get_by_role("alertdialog")
    assert "Stop Day line?" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert console.api.call("GET", f"/api/v1/agents/{agent['agent_id']}").body["status"] == "active"
    row.get_by_role("button", name="Stop Day line").click()
    page.get_by_role("button", name="Yes, stop").click()
    row.get_by_text("stopped").wait_for()
    assert console.api.call("GET", f"/api/v1/agents/{agent['agent_id']}").body["status"] == "stopped"
    assert sorted(row.get_by_role("button").all_inner_texts()) == ["Delete", "Start"]


# ------------------------------------------------------------------------------------------- API errors
def test_api_validation_errors_are_shown_field_by_field(page: Any, console: Console) -> None:
    sign_in(page, console)
    page.get_by_role("button", name="Create agent").click()  # no name, no business name
    alert = page.get_by_role("alert")
    alert.wait_for()
    text = alert.inner_text()
    assert "name" in text
    assert "character_config.business_name" in text
    assert page.get_by_label("Agent name").get_attribute("aria-invalid") == "true"
    shot(page, "06-api-validation-error")


def test_a_failing_api_is_explained_in_words_not_a_blank_page(page: Any, console: Console) -> None:
    sign_in(page, console)
    console.server.fail_next["GET /api/v1/usage"] = (503, {"message": "Service Unavailable"})
    page.get_by_role("link", name="Usage").click()
    assert page.get_by_role("alert").inner_text() == "Service Unavailable"
    shot(page, "07-api-error")


# ------------------------------------------------------------------------------------------- knowledge
def test_knowledge_upload_shows_progress_then_indexed(page: Any, console: Console, tmp_path: Path) -> None:
    agent = console.api.create(name="Docs desk")
    document = tmp_path / "returns.txt"
    document.write_text("Returns are accepted within 30 days with the receipt.\n")
    empty = tmp_path / "blank.txt"
    empty.write_text("   \n")
    sign_in(page, console)
    page.goto(f"{console.url}/#/agents/{agent['id']}/knowledge")  # the hash route keeps the in-memory session
    page.get_by_label("Document (PDF, Word, text, HTML, Markdown, CSV)").set_input_files(str(document))
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("status").filter(has_text="Uploaded").wait_for()
    page.get_by_role("row", name="returns.txt").get_by_text("indexed: the agent can quote it").wait_for()
    page.get_by_label("Document (PDF, Word, text, HTML, Markdown, CSV)").set_input_files(str(empty))
    page.get_by_role("button", name="Upload").click()
    failed = page.get_by_role("row", name="blank.txt")
    failed.get_by_text("failed", exact=True).wait_for()
    assert "Bedrock could not index this document: the file has no text to index" in failed.inner_text()
    docs = console.api.call("GET", f"/api/v1/agents/{agent['id']}/knowledge").body["items"]
    assert {d["file_name"]: d["status"] for d in docs} == {"returns.txt": "indexed", "blank.txt": "failed"}
    shot(page, "08-knowledge")


# ---------------------------------------------------------------------------------------- conversations
def test_vendor_reads_a_conversation_as_a_transcript_with_its_costs(page: Any, console: Console) -> None:
    agent = console.api.provision(name="Calls desk", channels=["chat"])
    seed_conversation(console.api, agent["agent_id"], "contact-0001")
    sign_in(page, console)
    page.goto(f"{console.url}/#/agents/{agent['agent_id']}/conversations")
    page.get_by_label("Channel").select_option("voice")
    page.get_by_role("row").nth(1).get_by_role("link").click()
    transcript = page.get_by_role("region", name="Transcript")
    transcript.get_by_text("Return policy?").wait_for()
    assert "30-day returns." in transcript.inner_text()
    assert transcript.locator("time").count() == 4  # when each line was said, caller and agent
    page.get_by_role("region", name="Cost breakdown").get_by_text("Total").wait_for()
    shot(page, "09-conversation")


# ---------------------------------------------------------------------------------------------- AgentCreator
CREATOR_SOP = "# Returns line\n\n## Policies\n- Returns: 45-day returns on unused bedding.\n\n## Tone\n- Friendly.\n"
CREATOR_JOB_TIMEOUT_MS = 120_000


def test_vendor_submits_an_sop_watches_the_stages_reads_the_report_and_approves(page: Any, console: Console) -> None:
    agent = console.api.provision(name="Creator desk", channels=["chat"])
    sign_in(page, console)
    page.goto(f"{console.url}/#/agents/{agent['agent_id']}/creator")
    page.get_by_role("button", name="Create the agent from this SOP").click()
    assert page.get_by_role("alert").inner_text() == "Paste the SOP or choose its file first."
    page.get_by_label("SOP (Markdown or plain text)").fill(CREATOR_SOP)
    page.get_by_role("button", name="Create the agent from this SOP").click()
    # The real job: eight stages on the local stage model, the gate replaying whole calls (seconds, not minutes).
    page.get_by_role("button", name="Approve version 2").wait_for(timeout=CREATOR_JOB_TIMEOUT_MS)
    stages = page.locator("ol.stages li").all_inner_texts()
    assert [line.split(" · ")[0] for line in stages] == [
        "Reading the SOP into requirements: succeeded",
        "Drafting a plan: succeeded",
        "Reviewing the plan: succeeded",
        "Writing the agent: succeeded",
        "Checking the code: succeeded",
        "Writing test conversations: succeeded",
        "Running the test conversations: succeeded",
        "Saving the candidate version: succeeded",
    ]
    report = page.get_by_role("region", name="Requirement-to-test report")
    assert "Returns: 45-day returns on unused bedding." in report.inner_text()
    assert "r-policy-01" in report.inner_text()
    shot(page, "11-agentcreator")
    assert console.api.call("GET", f"/api/v1/agents/{agent['agent_id']}").body["live_version"] == 1
    page.get_by_role("button", name="Approve version 2").click()
    page.get_by_text("Version 2 is live.").wait_for()
    live = console.api.call("GET", f"/api/v1/agents/{agent['agent_id']}").body
    assert live["live_version"] == 2
    assert live["character_config"]["knowledge_base"]["returns_policy"] == "45-day returns on unused bedding."


def test_pages_are_readable_at_360_pixels(browser: Any, console: Console) -> None:
    agent = console.api.provision(name="Narrow desk", channels=["chat"])
    seed_conversation(console.api, agent["agent_id"], "contact-0360")
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        sign_in(page, console)
        for name, route in (
            ("agents", "#/agents"),
            ("agent", f"#/agents/{agent['agent_id']}"),
            ("conversation", f"#/agents/{agent['agent_id']}/conversations/contact-0360"),
            ("usage", "#/usage"),
            ("creator", f"#/agents/{agent['agent_id']}/creator"),
        ):
            page.goto(f"{console.url}/{route}")
            page.locator("main h1").first.wait_for()
            page.wait_for_load_state("networkidle")
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 360, f"{name} scrolls sideways at 360 px ({width} px wide)"
            assert unlabelled_controls(page) == [], name
            shot(page, f"10-narrow-{name}")
    finally:
        context.close()
