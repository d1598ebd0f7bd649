"""The call router accepts chat contacts: a web chat has no dialed number (`SystemEndpoint` is null) and names the
agent it was started for; an SMS (a chat contact of subtype connect:SMS) names the number texted, which the vendor
bound to an agent. Text contacts are answered around the clock, hold no line against the call limit, and read the
written notices."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oratio.adapters.memory import (
    FixedClock,
    InMemoryAgentDirectory,
    InMemoryCallSessionStore,
    InMemoryNumberRegistry,
)
from oratio.channels.adapters.memory import InMemoryChannelBindings
from oratio.config.tenant import Channel, load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import RoutingProfile
from oratio.domain.calls import CallRouter
from oratio.domain.connect_events import ContactFlowEvent
from oratio_local.events import connect_contact_flow_event

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
PROFILE = RoutingProfile.from_tenant(TENANT).model_copy(update={"max_concurrent_calls": 1})
SUNDAY = datetime(2026, 11, 29, 15, tzinfo=UTC)  # the store is closed on Sundays
SMS_NUMBER = "+15557770000"
VOICE_NUMBER = "+15552333464"  # the number a Connect sample event dials
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def agent(agent_id: str = "agt-web", status: AgentStatus = AgentStatus.ACTIVE, vendor: str = TENANT.tenant_id) -> Agent:
    return Agent(vendor_id=vendor, agent_id=agent_id, name="A", status=status, created_at=T0, updated_at=T0)


def router(*agents: Agent) -> tuple[CallRouter, InMemoryCallSessionStore]:
    bindings = InMemoryChannelBindings()
    asyncio.run(bindings.bind(TENANT.tenant_id, Channel.SMS, SMS_NUMBER, "agt-sms"))
    sessions = InMemoryCallSessionStore()
    directory = InMemoryAgentDirectory(list(agents))
    numbers = InMemoryNumberRegistry({VOICE_NUMBER: TENANT.tenant_id})  # the tenant stack claimed it at deploy
    return CallRouter(PROFILE, directory, sessions, FixedClock(SUNDAY), numbers, channel_agents=bindings), sessions


def web_chat(contact: str = "chat-1", agent_id: str = "agt-web") -> ContactFlowEvent:
    event = connect_contact_flow_event(
        contact_id=contact,
        dialed=None,
        caller=None,
        channel="CHAT",
        Attributes={"agent_id": agent_id},
        Parameters={"agent_id": agent_id},
    )
    return ContactFlowEvent.model_validate(event)


def sms(contact: str = "sms-1") -> ContactFlowEvent:
    event = connect_contact_flow_event(
        contact_id=contact,
        dialed=SMS_NUMBER,
        caller="+16505551234",
        channel="CHAT",
        SegmentAttributes={"connect:Subtype": {"ValueString": "connect:SMS"}},
    )
    return ContactFlowEvent.model_validate(event)


def test_a_web_chat_is_routed_to_the_agent_it_names_even_when_the_store_is_closed() -> None:
    r, sessions = router(agent())
    decision = r.route(web_chat().to_inbound_call())
    assert (decision.route.value, decision.agent_id, decision.channel) == ("agent", "agt-web", "chat")
    assert decision.to_connect_attributes()["channel"] == "chat"
    session = sessions.get(TENANT.tenant_id, "chat-1")
    assert session is not None
    assert (session.channel, session.dialed_number) == ("chat", "")


def test_chats_hold_no_line_so_calls_still_get_one() -> None:
    r, sessions = router(agent(), agent("agt-voice").model_copy(update={"phone_number": VOICE_NUMBER}))
    for n in range(3):
        r.route(web_chat(f"chat-{n}").to_inbound_call())
    assert sessions.active_calls(TENANT.tenant_id) == 0


def test_an_sms_is_routed_to_the_agent_its_number_is_bound_to_on_the_sms_channel() -> None:
    r, _ = router(agent("agt-sms"))
    call = sms().to_inbound_call()
    assert (call.channel, call.dialed_number, call.agent_id) == ("sms", SMS_NUMBER, None)
    decision = r.route(call)
    assert (decision.route.value, decision.agent_id, decision.channel) == ("agent", "agt-sms", "sms")


def test_a_chat_from_a_phone_number_without_a_subtype_is_still_an_sms() -> None:
    event = connect_contact_flow_event(contact_id="sms-2", dialed=SMS_NUMBER, caller="+16505551234", channel="CHAT")
    assert ContactFlowEvent.model_validate(event).to_inbound_call().channel == "sms"


def test_an_sms_to_a_number_no_agent_is_bound_to_is_unknown() -> None:
    r, _ = router(agent("agt-sms"))
    event = connect_contact_flow_event(contact_id="sms-3", dialed="+15550001111", caller="+16505551234", channel="CHAT")
    decision = r.route(ContactFlowEvent.model_validate(event).to_inbound_call())
    assert (decision.route.value, decision.reason.value) == ("unavailable", "unknown_number")


def test_a_paused_agent_on_chat_gets_the_written_paused_notice_not_the_spoken_one() -> None:
    r, _ = router(agent(status=AgentStatus.PAUSED))
    decision = r.route(web_chat().to_inbound_call())
    assert decision.route.value == "paused"
    assert decision.message == PROFILE.text_paused_message != PROFILE.paused_message


def test_a_web_chat_naming_another_tenants_agent_is_unknown() -> None:
    r, _ = router(agent(vendor="sleepwell"))
    assert r.route(web_chat().to_inbound_call()).reason.value == "unknown_number"


@pytest.mark.parametrize("parameters", [{}, {"agent_id": ""}])
def test_a_web_chat_naming_no_agent_is_refused_as_invalid(parameters: dict[str, str]) -> None:
    event = connect_contact_flow_event(contact_id="c", dialed=None, caller=None, channel="CHAT", Parameters=parameters)
    with pytest.raises(ValueError, match="names no agent"):
        ContactFlowEvent.model_validate(event).to_inbound_call()


def test_calls_still_need_a_dialed_number_and_keep_business_hours() -> None:
    r, _ = router(agent("agt-voice").model_copy(update={"phone_number": VOICE_NUMBER}))
    decision = r.route(ContactFlowEvent.model_validate(connect_contact_flow_event(contact_id="v")).to_inbound_call())
    assert (decision.route.value, decision.channel) == ("closed", "voice")
