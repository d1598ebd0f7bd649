"""Runs conversation scripts: each call through the tenant's contact flow as synthesized, the real Lambda
handlers (call router, voice turn, turn worker) from their code assets, the Lex emulation, the tenant agent on
127.0.0.1 with the local model, and DynamoDB/SSM on moto — or, on the twilio/vonage front doors, through the
voice bridge against the Nova Sonic stand-in. A script that cannot run (unknown tenant, agent, front door, a
flow that never ends) fails alone; the others still run.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from oratio.config import TenantConfig, TenantConfigError, load_tenant_file
from oratio.replay.deployment import Deployment, FunctionSpec
from oratio.replay.flow import BotOutcome, Contact, FlowInterpreter, FlowRunError, LambdaFailed, Step
from oratio.replay.flow_language import FlowLanguageError
from oratio.replay.script import FRONT_DOORS, Script, ScriptError, Turn, load_script
from oratio.replay.transcript import Event, ExpectationFailed, check_end, check_turn
from oratio_local.replay import agents
from oratio_local.replay.aws_services import AgentInvocation, LocalServices, activate
from oratio_local.replay.clock import VirtualClock, virtual_loops
from oratio_local.replay.lex import CallerInput, LexEmulator
from oratio_local.replay.synth import SynthesizedTenant, synthesize

REPO = Path(__file__).resolve().parents[2]
TENANTS_DIR = REPO / "tenants"
REGION = "us-east-1"
LOCAL_NUMBER = "+15550100000"  # the claimed number stands in as the tenant's published contact number, else this
_SPEECH_MODES = {True: "speech_to_speech", False: "cascaded"}


@dataclass
class ScriptResult:
    path: str
    name: str
    front_door: str = "connect"
    passed: bool = False
    failure: str = ""
    timeline: list[Event] = field(default_factory=list)
    outcome: str = ""
    route: str = ""
    cost_usd: float = 0.0
    seconds: float = 0.0  # real time the script took (never in the transcript)
    after_call: Any = None  # what the session's `after_call` read of the finished call (e.g. its costs)

    def transcript(self) -> str:
        return "\n".join(e.line() for e in self.timeline)


# ----------------------------------------------------------------------------------- local AWS
@contextmanager
def local_aws() -> Iterator[tuple[Any, dict[str, str]]]:
    """moto in process with every table created and their names published in SSM as the platform stack does."""
    import boto3
    from moto import mock_aws

    import oratio.observability  # noqa: F401  # the shared Powertools logger is made with this process's settings
    from oratio_local.dynamodb import create_tables
    from oratio_local.moto_serial import serialize_moto
    from oratio_local.replay.aws_services import PASSTHROUGH_URLS

    serialize_moto()
    fake = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    saved = dict(os.environ)
    os.environ.update(fake)
    try:
        with mock_aws(config={"core": {"passthrough": {"urls": list(PASSTHROUGH_URLS), "services": []}}}):
            boto3.DEFAULT_SESSION = _boto_session()  # moto put back the caller's session on exit
            client = boto3.client("dynamodb", region_name=REGION)
            names = create_tables(client)
            ssm = boto3.client("ssm", region_name=REGION)
            for key, name in names.items():
                ssm.put_parameter(Name=f"/oratio/platform/tables/{key}/name", Value=name, Type="String")
            yield client, names
    finally:
        os.environ.clear()
        os.environ.update(saved)


_sessions: list[Any] = []


def _boto_session() -> Any:
    """The boto3 session every replayed call's code makes its clients from (through `boto3.client`, as on Lambda).
    One per process: its botocore loader keeps the service models it has read, which a fresh session reads again
    from JSON (~0.3 s of CPU a call). It holds no AWS state: that lives in moto, new for each call, and its
    credentials are the fake ones above, the same in every call."""
    import boto3

    if not _sessions:
        _sessions.append(boto3.session.Session(region_name=REGION))
    return _sessions[0]


def _ssm_lookup(client: Any) -> Callable[[str], str]:
    def lookup(name: str) -> str:
        return str(client.get_parameter(Name=name)["Parameter"]["Value"])

    return lookup


def _all_loggers() -> dict[str, logging.Logger]:
    """The root logger and every named logger made so far (placeholders left out)."""
    named = {
        name: logger for name, logger in logging.Logger.manager.loggerDict.items() if isinstance(logger, logging.Logger)
    }
    return {"": logging.getLogger(), **named}


# ------------------------------------------------------------------------------------- session
# Called once a Connect call has ended, with its tenant, the call's DynamoDB client and its contact id.
AfterCall = Callable[[TenantConfig, Any, str], Any]
# Called once a call's agent exists, before the call: the call's vendor API, the script's agent name, its id (the
# AgentCreator gate writes and publishes its candidate here, in the call's own throwaway world).
SetUpAgent = Callable[[Any, str, str], None]


class ReplaySession:
    """What scripts share within one run: the synthesized tenants and the tenant agent server."""

    def __init__(self, tenants_dir: Path = TENANTS_DIR, *, synthesized: dict[str, SynthesizedTenant] | None = None,
                 use_cache: bool = True, after_call: AfterCall | None = None,
                 set_up_agent: SetUpAgent | None = None) -> None:  # fmt: skip
        self.tenants_dir = tenants_dir
        self.after_call = after_call
        self.set_up_agent = set_up_agent
        self._synthesized = dict(synthesized or {})
        self._use_cache = use_cache
        self._stack = ExitStack()
        self._levels: dict[str, int] = {}
        self.agent_url = ""

    def __enter__(self) -> ReplaySession:
        import oratio.observability  # noqa: F401  # made with this process's settings, before the snapshot
        from agentcore.tenant_agent import app as runtime
        from oratio_local.agent_server import serve_on_loopback

        # Every logger's level as it is now: the replay quiets some, and the handlers it loads set the shared
        # Powertools logger to the replay's POWERTOOLS_LOG_LEVEL; all of it is put back on exit.
        self._levels = {name: logger.level for name, logger in _all_loggers().items()}
        for name in ("bedrock_agentcore", "bedrock_agentcore.app", "oratio", "oratio.tenant_agent"):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # per-turn log lines are noise in a replay
        warnings.filterwarnings("ignore", "No application metrics to publish")
        self.agent_url = self._stack.enter_context(serve_on_loopback(runtime.app))
        return self

    def __exit__(self, *exc: object) -> None:
        from agentcore.tenant_agent import app as runtime

        runtime.set_engine(None)
        self._stack.close()
        gc.unfreeze()  # what `_settle_heap` froze is the collector's again
        for name, logger in _all_loggers().items():
            logger.setLevel(self._levels.get(name, logging.NOTSET))  # one made during the replay inherits again

    def tenant(self, tenant_id: str) -> TenantConfig:
        path = self.tenants_dir / f"{tenant_id}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in self.tenants_dir.glob("*.yaml"))) or "none"
            raise ScriptError(f"tenant {tenant_id!r}: there is no {path} (tenants: {known})")
        try:
            return load_tenant_file(path)
        except TenantConfigError as e:
            raise ScriptError(str(e)) from e

    def prepare(self, tenant_ids: list[str]) -> None:
        """Synthesize every tenant the scripts name, at once (one synthesis for the whole run)."""
        missing = [t for t in dict.fromkeys(tenant_ids) if t not in self._synthesized]
        tenants = []
        for tenant_id in missing:
            try:
                tenants.append(self.tenant(tenant_id))
            except ScriptError:
                continue  # reported by the script that names it
        self._synthesized.update(synthesize(tenants, self.tenants_dir, use_cache=self._use_cache))

    def synthesized(self, tenant: TenantConfig) -> SynthesizedTenant:
        if tenant.tenant_id not in self._synthesized:
            self.prepare([tenant.tenant_id])
        return self._synthesized[tenant.tenant_id]


def run_paths(session: ReplaySession, paths: list[Path], front_door: str | None = None) -> list[ScriptResult]:
    from oratio.replay.script import discover

    files = discover(paths)
    scripts: list[tuple[Path, Script | ScriptError]] = []
    for path in files:
        try:
            scripts.append((path, load_script(path)))
        except ScriptError as e:
            scripts.append((path, e))
    session.prepare([s.tenant for _, s in scripts if isinstance(s, Script)])
    results = []
    for path, script in scripts:
        if isinstance(script, ScriptError):
            results.append(ScriptResult(str(path), path.stem, failure=str(script)))
            continue
        results.append(run_script(session, script, str(path), front_door=front_door))
    return results


def run_script(session: ReplaySession, script: Script, path: str = "<script>", *, front_door: str | None = None,
               live: Callable[[Event], None] | None = None) -> ScriptResult:  # fmt: skip
    door = front_door or script.front_door
    result = ScriptResult(path, script.name, front_door=door)
    started = time.perf_counter()
    _settle_heap()
    try:
        if door not in FRONT_DOORS:
            raise ScriptError(f"{path}: front door {door!r} is not one of {', '.join(FRONT_DOORS)}")
        tenant = session.tenant(script.tenant)
        call_type = call_types()[door]
        call_type(session, tenant, script, result, live).run()
        result.passed = True
    except ExpectationFailed as e:
        result.failure = e.explain()
    except (ScriptError, FlowLanguageError, FlowRunError, agents.UnknownAgentError) as e:
        result.failure = str(e)
    except Exception as e:  # the replay itself broke: say what, keep the other scripts running
        logging.getLogger(__name__).exception("replay of %s failed", path)
        result.failure = f"the replay failed: {type(e).__name__}: {e}"
    result.seconds = time.perf_counter() - started
    return result


def _settle_heap() -> None:
    """Collect what earlier calls left behind and move what survives (imported modules, botocore's service models,
    the synthesized templates) out of the cyclic collector's sight (`gc.freeze`), so that the collections a call
    triggers walk that call's objects only, not everything the run has loaded (~20 % of a call's CPU time).
    `ReplaySession.__exit__` hands the frozen objects back to the collector."""
    gc.collect()
    gc.freeze()


def call_types() -> dict[str, type[CallBase]]:
    from oratio_local.replay.bridge_call import TwilioCall, VonageCall

    return {"connect": ConnectCall, "twilio": TwilioCall, "vonage": VonageCall}


# ------------------------------------------------------------------------------ the caller's side
class ScriptedCaller:
    """Plays the script's turns as the caller, and checks each turn's expectations when the next begins."""

    def __init__(self, call: CallBase) -> None:
        self._call = call
        self._turns = list(enumerate(call.script.turns, start=1))
        self._pending: tuple[int, Turn, int] | None = None

    def check_pending(self) -> None:
        if self._pending is None:
            return
        number, turn, start = self._pending
        self._pending = None
        call = self._call
        segment = call.timeline[start:]
        check_turn(f"turn {number} ({turn.kind}: {turn.say or turn.dtmf or turn.silence or ''})", turn.expect,
                   segment, call.timeline, call.attributes(), call.holding_line)  # fmt: skip

    def next_input(self) -> CallerInput:
        self.check_pending()
        if not self._turns:
            return CallerInput("hang_up")
        number, turn = self._turns.pop(0)
        call = self._call
        start = len(call.timeline)
        self._pending = (number, turn, start)
        if turn.say is not None:
            call.add("caller", turn.say, "caller")
            if turn.agent_seconds:
                call.delay_agent(turn.agent_seconds)
            return CallerInput("say", turn.say, confidence=0.95 if turn.confidence is None else turn.confidence)
        if turn.dtmf is not None:
            call.add("caller", f"[keys {turn.dtmf}]", "caller")
            return CallerInput("dtmf", turn.dtmf)
        if turn.silence is not None:
            call.add("caller", f"[silent {turn.silence:g} s]", "caller")
            return CallerInput("silence", seconds=turn.silence)
        call.add("caller", "[hangs up]", "caller")
        return CallerInput("hang_up")

    @property
    def unplayed(self) -> list[int]:
        return [n for n, _ in self._turns]

    @property
    def upcoming(self) -> Turn | None:
        """The turn after the one being played (a bridge caller starts an `interrupt` line over the reply)."""
        return self._turns[0][1] if self._turns else None


class CallBase:
    """Timeline and expectations shared by both front doors."""

    def __init__(self, session: ReplaySession, tenant: TenantConfig, script: Script, result: ScriptResult,
                 live: Callable[[Event], None] | None) -> None:  # fmt: skip
        self.session, self.tenant, self.script, self.result = session, tenant, script, result
        self.timeline = result.timeline
        self.live = live
        self.clock = VirtualClock(script.at)
        self.holding_line = tenant.voice.connect.holding_message
        self.contact_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"oratio-replay/{script.tenant}/{script.name}"))
        self.cost_usd = 0.0
        self.services: LocalServices | None = None
        self.tables: dict[str, str] = {}
        self.caller = ScriptedCaller(self)

    @property
    def number(self) -> str:
        """The tenant's Connect number (the claimed number stands in as its published contact number)."""
        return self.tenant.business.contact.phone or LOCAL_NUMBER

    @contextmanager
    def deployed(self, *, bridge_number: str | None = None) -> Iterator[tuple[Any, Deployment]]:
        """The tenant "deployed" on local AWS for this call: tables, the agent (made and set up through the vendor
        API), the tenant agent's engine, the synthesized stack resolved, its provider secrets, the in-process
        Lambda/AgentCore, and the script's `given` spend."""
        from agentcore.tenant_agent import app as runtime
        from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
        from oratio_local.vendor import LocalVendorApi

        synthesized = self.session.synthesized(self.tenant)
        given = self.script.given
        with local_aws() as (client, names):
            import boto3

            self.tables = names
            api = LocalVendorApi(self.tenant, client, names, phone_number=self.number)
            if bridge_number is not None and bridge_number not in self.tenant.voice.bridge_numbers:
                api.register_bridge_number(bridge_number)  # as the operator's scripts/phone_numbers.py would
            agent_id = agents.ensure_agent(
                api,
                self.tenant,
                self.script.agent,
                definition=agents.definition_for(given),
                bridge_number=bridge_number,
            )
            if self.session.set_up_agent is not None:
                self.session.set_up_agent(api, self.script.agent, agent_id)
            agents.set_status(api, agent_id, given.agent_status)
            engine = agents.agent_engine(
                self.tenant, self.session.tenants_dir, names, tool_failures=given.tool_failures, clock=self.clock.now
            )
            runtime.set_engine(engine)
            ssm = _ssm_lookup(boto3.client("ssm", region_name=REGION))
            deployment = Deployment(synthesized.template, region=REGION, ssm=ssm,
                                    stack_name=f"OratioTenant-{self.tenant.tenant_id}")  # fmt: skip
            for logical_id in deployment.of_type("AWS::Connect::PhoneNumber"):
                deployment.physical[f"{logical_id}.Address"] = self.number
            self._create_secrets(deployment)
            self.services = LocalServices(
                deployment=deployment,
                assets=synthesized.assets,
                clock=self.clock,
                agent_url=self.session.agent_url,
                prepare=self._prepare_module,
                on_agent_events=self.on_agent,
            )
            for lambda_id in deployment.of_type("AWS::Lambda::Function"):
                runtime_arn = deployment.function(lambda_id).environment.get("ORATIO_AGENT_RUNTIME_ARN")
                if runtime_arn:
                    self.services.agent_runtime_arn = runtime_arn
            self._book_month_spend(DynamoDBBudgetLedger(names["usage"], client=client), agent_id)
            yield client, deployment

    def _book_month_spend(self, ledger: Any, agent_id: str) -> None:
        """`given.month_spend_usd` (of which `agent_month_spend_usd` by the script's agent), booked through the
        budget ledger every path charges, so the router's and the agent's budget checks read it as they would."""
        given, tenant_id, now = self.script.given, self.tenant.tenant_id, self.clock.now()
        others = given.month_spend_usd - given.agent_month_spend_usd
        if others > 0:
            asyncio.run(ledger.add(tenant_id, now, "model", "replay-setup", others))
        if given.agent_month_spend_usd > 0:
            spent = given.agent_month_spend_usd
            asyncio.run(ledger.add(tenant_id, now, "model", "replay-setup", spent, agent_id=agent_id))

    def _create_secrets(self, deployment: Deployment) -> None:
        """The stack's Secrets Manager secrets on moto (the webhook reads the providers' keys from them), each
        holding the value a provider account of the replay signs with."""
        import boto3

        from oratio_local.replay.telephony import SECRET_VARIABLES

        values = {}
        for logical_id in deployment.of_type("AWS::Lambda::Function"):
            environment = deployment.resources[logical_id].get("Properties", {}).get("Environment", {})
            for variable, secret in SECRET_VARIABLES.values():
                ref = environment.get("Variables", {}).get(variable)
                if isinstance(ref, dict) and "Ref" in ref:
                    values[str(ref["Ref"])] = secret
        secrets = boto3.client("secretsmanager", region_name=REGION)
        for logical_id in deployment.of_type("AWS::SecretsManager::Secret"):
            name = str(deployment.resources[logical_id]["Properties"].get("Name") or logical_id)
            value = values.get(logical_id, "replay-generated-secret")
            deployment.physical[logical_id] = secrets.create_secret(Name=name, SecretString=value)["ARN"]

    def _prepare_module(self, spec: FunctionSpec, module: ModuleType) -> None:
        if hasattr(module, "clock"):  # the handlers' clock seam: the replay clock
            module.clock = self.clock  # type: ignore[attr-defined]

    def add(self, who: str, text: str, kind: str = "", **detail: Any) -> None:
        event = Event(round(self.clock.elapsed, 1), who, text, kind, detail)
        self.timeline.append(event)
        if self.live is not None:
            self.live(event)

    def attributes(self) -> dict[str, str]:
        return {}

    def delay_agent(self, seconds: float) -> None:
        raise NotImplementedError

    def run(self) -> None:
        """Play the whole call (each front door its own way)."""
        raise NotImplementedError

    def on_agent(self, invocation: AgentInvocation) -> None:
        for event in invocation.events:
            kind = event.get("type")
            if kind == "tool" and event.get("status") != "started":
                self.add("agent", f"tool {event.get('name')}: {event.get('status')}", "tool", tool=event.get("name"))
            elif kind == "done" and event.get("model_id"):  # a relayed tool call runs no model
                cost = float(event.get("cost_usd") or 0.0)
                self.cost_usd += cost
                self.add("agent", f"model {event.get('model_id')} (${cost:.5f})", "cost", cost_usd=cost)

    def finish(self, route: str, outcome: str) -> None:
        self.caller.check_pending()
        if self.caller.unplayed:
            raise ExpectationFailed(
                f"turn {self.caller.unplayed[0]}", "the call to reach this turn", f"the call was {outcome} before it",
                self.timeline,
            )  # fmt: skip
        self.result.route, self.result.outcome, self.result.cost_usd = route, outcome, round(self.cost_usd, 6)
        self.add("system", f"call {outcome} (route {route or '-'}, cost ${self.cost_usd:.5f})", "end")
        check_end(self.script.expect_end, self.timeline, route=route, outcome=outcome, cost_usd=self.cost_usd,
                  attributes=self.attributes())  # fmt: skip


# -------------------------------------------------------------------------------- Connect calls
class ConnectCall(CallBase):
    """One call on the tenant's Connect number, through the inbound flow as synthesized."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.contact: Contact | None = None
        self.connect_caller = self.script.caller  # the number Connect sees (a Twilio <Dial> may present another)
        self._bots: dict[str, LexEmulator] = {}
        self._requests = (str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.contact_id}/{n}")) for n in range(10**6))

    def attributes(self) -> dict[str, str]:
        if self.contact is None:
            return {}
        return {**self.contact.attributes, **self.contact.lex.get("SessionAttributes", {})}

    def delay_agent(self, seconds: float) -> None:
        assert self.services is not None
        self.services.delay_next_agent_turn(seconds)

    def run(self) -> None:
        with self.deployed() as (client, deployment):
            inbound = deployment.inbound_flow()
            assert self.services is not None
            with activate(self.services), virtual_loops(self.clock):
                self._fill_the_line(deployment, inbound.content, self.number, self.script.given.active_calls)
                if not self.enter(client, deployment):
                    return
                result = self.run_flow(deployment)
            self.finish(self.contact.attributes.get("route", "") if self.contact else "", result.outcome)
            if self.session.after_call is not None:  # still inside this call's local AWS
                self.result.after_call = self.session.after_call(self.tenant, client, self.contact_id)

    def enter(self, client: Any, deployment: Deployment) -> bool:
        """The call reaches the Connect number (a telephony front door may end it before, and say so)."""
        self.add("system", f"{self.script.caller} dials {self.number} ({self.tenant.tenant_id}, Connect)", "dial")
        return True

    def run_flow(self, deployment: Deployment) -> Any:
        inbound = deployment.inbound_flow()
        self.contact = Contact(self.contact_id, self.connect_caller, self.number)
        interpreter = FlowInterpreter(_Services(self, deployment))
        self.clock._acquire()
        try:
            return interpreter.run(inbound.name, inbound.content, self.contact)
        finally:
            self.clock._release()

    def _fill_the_line(self, deployment: Deployment, flow: dict[str, Any], number: str, calls: int) -> None:
        """`given.active_calls`: other contacts routed first through the same call router (their slots taken)."""
        if not calls:
            return
        router = next(a for a in flow["Actions"] if a["Type"] == "InvokeLambdaFunction")
        arn = router["Parameters"]["LambdaFunctionARN"]
        assert self.services is not None
        container = self.services.container(arn)
        for n in range(calls):
            other = Contact(
                str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.contact_id}/line/{n}")), f"+1555010{n:04d}", number
            )
            container.invoke(_flow_event(other, {}))

    # ------------------------------------------------------------------------------ flow services
    def invoke(self, arn: str, event: dict[str, Any]) -> Any:
        """Invoke a function from the flow or from Lex (the main thread lets go of the clock meanwhile)."""
        assert self.services is not None
        container = self.services.container(arn)
        try:
            with self.clock.lent_to_loop():
                return container.invoke(event)
        except Exception as e:
            raise LambdaFailed(f"{container.spec.name} failed: {type(e).__name__}") from e

    def bot(self, deployment: Deployment, alias_arn: str) -> LexEmulator:
        if alias_arn not in self._bots:
            spec = deployment.bot(alias_arn)
            self._bots[alias_arn] = LexEmulator(
                bot=spec,
                code_hook=self.invoke,
                caller=self.caller,
                emit=self.step,
                advance=self.clock.advance,
                available=_SPEECH_MODES[spec.speech_to_speech] not in self.script.given.speech_down,
                flow="lex",
                request_ids=lambda: next(self._requests),
            )
        return self._bots[alias_arn]

    def step(self, step: Step) -> None:
        """A flow or bot step, as the timeline shows it."""
        if step.kind == "say":
            self.add("assistant", step.text, "say", by=step.detail.get("by", "flow"))
        elif step.kind == "whisper":
            self.add("human", step.text, "whisper")
        elif step.kind == "lambda":
            self._lambda_step(step)
        elif step.kind == "bot":
            self.add("flow", f"bot {step.detail.get('alias', '').rsplit('/', 2)[-2]} ({step.action})", "bot")
        elif step.kind == "nlu":
            confidence = step.detail.get("nlu_confidence")
            self.add("flow", f"Lex: {step.text}" + (f" ({confidence})" if confidence is not None else ""), "nlu",
                     intent=step.text)  # fmt: skip
        elif step.kind == "voice":
            self.add("flow", f"set voice {step.text}", "voice")
        elif step.kind == "transfer":
            self.add("flow", f"transfer to queue {self._queue_name(step.text)}", "transfer")
        elif step.kind == "hang_up":
            self.add("flow", step.text, "hang_up")
        elif step.kind == "error":
            self.add("flow", step.text, "error")

    def _queue_name(self, arn: str) -> str:
        return self.tenant.connect.queue_name if arn else ""

    def _lambda_step(self, step: Step) -> None:
        parameters = step.detail.get("parameters", {})
        answer = step.detail.get("answer") or {}
        name = parameters.get("action") or "call router"
        if step.detail.get("error"):
            self.add("flow", f"lambda {name}: error ({step.text})", "lambda")
        elif "route" in answer:
            self.add("flow", f"call router: route {answer.get('route')} ({answer.get('reason')})", "route")
        else:
            self.add("flow", f"{name}: next {answer.get('next_step')}, speech {answer.get('speech_mode')}", "lambda")


def _flow_event(contact: Contact, parameters: dict[str, str]) -> dict[str, Any]:
    from oratio_local.events import CONNECT_INSTANCE_ARN, connect_contact_flow_event

    event = connect_contact_flow_event(
        contact_id=contact.contact_id,
        dialed=contact.dialed,
        caller=contact.caller,
        channel=contact.channel,
        Attributes=dict(contact.attributes),
        Parameters=parameters,
    )
    event["Details"]["ContactData"]["InstanceARN"] = CONNECT_INSTANCE_ARN
    return event


class _Services:
    """`FlowServices` of a Connect call."""

    def __init__(self, call: ConnectCall, deployment: Deployment) -> None:
        self._call, self._deployment = call, deployment

    def invoke_lambda(self, arn: str, contact: Contact, parameters: Any, timeout_seconds: int) -> Any:
        return self._call.invoke(arn, _flow_event(contact, dict(parameters)))

    def converse(self, alias_arn: str, prompt: str, contact: Contact, session_attributes: Any) -> BotOutcome:
        return self._call.bot(self._deployment, alias_arn).converse(prompt, contact, session_attributes)

    def hours(self, arn: str) -> Any:
        spec = self._deployment.hours(arn)
        return spec.time_zone, spec.days

    def queue(self, arn: str) -> tuple[str | None, bool]:
        return self._deployment.queue(arn).hours_arn, False

    def flow(self, arn: str) -> tuple[str, dict[str, Any]]:
        spec = self._deployment.flow_by_arn(arn)
        return spec.name, spec.content

    def now(self) -> Any:
        return self._call.clock.now()

    def record(self, step: Step) -> None:
        self._call.step(step)


def script_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
