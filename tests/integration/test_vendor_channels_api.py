"""The vendor API's channel routes through the real Lambda handler over moto (DynamoDB, SSM, Secrets Manager), with
the platforms' HTTP APIs played by the local stand-ins (which check tokens, appsecret_proof and OAuth 1.0a
signatures as Meta and X do) and Amazon Connect's StartChatContact checked with botocore's Stubber against the
Connect API model."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from oratio.channels.adapters.connect_chat import ConnectChatStarter
from oratio.channels.credentials import ChannelSecret, secret_name
from oratio.config.tenant import Channel
from oratio.vendors.api import channel_routes as channel_api
from oratio_local.platforms import FakePlatforms, MetaAccount, XAccount
from tests.vendor_api_harness import (
    REGION,
    VENDOR_A,
    VENDOR_B,
    VendorApi,
    chat_flow_arn,
    connect_instance_arn,
    vendor_api,
    webhook_url,
)

__all__ = ["vendor_api"]

A = "/api/v1/agents"
PHONE_NUMBER_ID = "106540352242922"
WA_TOKEN = "EAAJB-whatsapp-system-user-token"
APP_SECRET = "meta-app-secret-of-cozy-comfort"
VERIFY_TOKEN = "cozy-verify-token-2026"
WHATSAPP = {
    "phone_number_id": PHONE_NUMBER_ID,
    "business_account_id": "102290129340398",
    "access_token": WA_TOKEN,
    "app_secret": APP_SECRET,
    "verify_token": VERIFY_TOKEN,
}
X_LINK = {
    "user_id": "3001969357",
    "consumer_key": "x-consumer-key",
    "consumer_secret": "x-consumer-secret-123",
    "access_token": "3001969357-access-token",
    "access_token_secret": "x-access-token-secret",
}


@dataclasses.dataclass
class Channels:
    api: VendorApi
    platforms: FakePlatforms
    connect: Stubber

    def agent(self, *channels: str, vendor: str = VENDOR_A) -> dict[str, Any]:
        return self.api.provision(vendor, channels=list(channels or ("whatsapp", "voice")))["agent_config"]

    def link(self, agent_id: str, channel: str, body: dict[str, Any], vendor: str = VENDOR_A) -> Any:
        return self.api.call("PUT", f"{A}/{agent_id}/channels/{channel}", vendor=vendor, body=body)

    def secret(self, channel: Channel, vendor: str = VENDOR_A) -> ChannelSecret | None:
        client = boto3.client("secretsmanager", region_name=REGION)
        try:
            text = client.get_secret_value(SecretId=secret_name(vendor, channel))["SecretString"]
        except client.exceptions.ResourceNotFoundException:
            return None
        return ChannelSecret.from_json(text)

    def binding(self, channel: str, account: str, vendor: str = VENDOR_A) -> str | None:
        item = (
            self.api.aws["dynamodb"]
            .get_item(
                TableName=self.api.aws["tables"]["tenant_state"],
                Key={"pk": {"S": vendor}, "sk": {"S": f"channel#{channel}#{account}"}},
            )
            .get("Item")
        )
        return item["agent_id"]["S"] if item else None


@pytest.fixture
def channels(vendor_api: VendorApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[Channels]:
    platforms = FakePlatforms()
    platforms.meta[PHONE_NUMBER_ID] = MetaAccount(
        WA_TOKEN, APP_SECRET, {"display_phone_number": "15550783881", "verified_name": "Cozy Comfort Bedding"}
    )
    platforms.x[X_LINK["access_token"]] = XAccount(
        X_LINK["user_id"],
        "cozycomfort",
        X_LINK["consumer_key"],
        X_LINK["consumer_secret"],
        X_LINK["access_token"],
        X_LINK["access_token_secret"],
    )
    connect = boto3.client("connect", region_name=REGION)
    stubber = Stubber(connect)
    services = dataclasses.replace(
        channel_api.build_services.__wrapped__(),
        chats=ConnectChatStarter(client=connect),
        http_transport=platforms.transport(),
    )
    monkeypatch.setattr(channel_api, "services", lambda: services)
    with stubber:
        yield Channels(vendor_api, platforms, stubber)


# ------------------------------------------------------------------------------------------- linking
def test_linking_whatsapp_verifies_the_number_stores_the_secrets_and_activates_the_channel(channels: Channels) -> None:
    agent = channels.agent("whatsapp")
    assert agent["channels"][0]["status"] == "pending_credentials"
    reply = channels.link(agent["id"], "whatsapp", WHATSAPP)
    assert reply.status == 200, reply.body
    assert (reply.body["status"], reply.body["account_id"]) == ("active", PHONE_NUMBER_ID)
    assert reply.body["webhook_url"] == webhook_url(VENDOR_A) + "whatsapp"
    assert "15550783881" in reply.body["detail"]
    # One cheap call proved the credentials, signed with the app secret as Meta checks it.
    assert channels.platforms.calls == [("GET", f"/v21.0/{PHONE_NUMBER_ID}")]
    # The secrets went to Secrets Manager, never back to the vendor.
    text = json.dumps(reply.body)
    assert WA_TOKEN not in text
    assert APP_SECRET not in text
    assert VERIFY_TOKEN not in text
    secret = channels.secret(Channel.WHATSAPP)
    assert secret is not None
    assert secret.app_secret is not None
    assert secret.app_secret.get_secret_value() == APP_SECRET
    assert secret.accounts[PHONE_NUMBER_ID].access_token.get_secret_value() == WA_TOKEN
    assert secret.accounts[PHONE_NUMBER_ID].agent_id == agent["id"]
    assert channels.binding("whatsapp", PHONE_NUMBER_ID) == agent["id"]
    shown = channels.api.call("GET", f"{A}/{agent['id']}").body["channels"]
    assert [(c["channel_type"], c["status"]) for c in shown] == [("whatsapp", "active")]


def test_a_token_meta_refuses_answers_422_with_metas_reason_and_stores_nothing(channels: Channels) -> None:
    agent = channels.agent("whatsapp")
    reply = channels.link(agent["id"], "whatsapp", {**WHATSAPP, "access_token": "EAAJB-expired-token"})
    assert (reply.status, reply.body["error"]) == (422, "credentials_refused")
    assert "Invalid OAuth access token" in reply.body["message"]
    assert channels.secret(Channel.WHATSAPP) is None
    assert channels.binding("whatsapp", PHONE_NUMBER_ID) is None
    assert channels.api.call("GET", f"{A}/{agent['id']}").body["channels"][0]["status"] == "pending_credentials"


def test_a_wrong_app_secret_is_refused_through_appsecret_proof(channels: Channels) -> None:
    agent = channels.agent("whatsapp")
    reply = channels.link(agent["id"], "whatsapp", {**WHATSAPP, "app_secret": "not-the-apps-secret"})
    assert reply.status == 422
    assert "appsecret_proof" in reply.body["message"]


def test_meta_down_answers_503_and_stores_nothing(channels: Channels, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = channels.agent("whatsapp")

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"message": "Service temporarily unavailable", "code": 2}})

    services = dataclasses.replace(channel_api.services(), http_transport=httpx.MockTransport(down))
    monkeypatch.setattr(channel_api, "services", lambda: services)
    reply = channels.link(agent["id"], "whatsapp", WHATSAPP)
    assert (reply.status, reply.headers.get("Retry-After")) == (503, "5")
    assert channels.secret(Channel.WHATSAPP) is None


def test_fields_the_channel_needs_are_listed_when_missing(channels: Channels) -> None:
    agent = channels.agent("whatsapp")
    reply = channels.link(agent["id"], "whatsapp", {"phone_number_id": PHONE_NUMBER_ID})
    assert reply.status == 422
    assert {d["field"] for d in reply.body["details"]} == {"body.access_token", "body.app_secret", "body.verify_token"}


@pytest.mark.parametrize("channel", ["voice", "chat"])
def test_voice_and_chat_are_not_linked_with_credentials(channels: Channels, channel: str) -> None:
    agent = channels.agent("whatsapp")
    reply = channels.link(agent["id"], channel, WHATSAPP)
    assert (reply.status, reply.body["error"]) == (422, "channel_not_linkable")


def test_an_account_answering_another_live_agent_is_refused_until_that_agent_is_deleted(channels: Channels) -> None:
    first, second = channels.agent("whatsapp"), channels.agent("whatsapp")
    assert channels.link(first["id"], "whatsapp", WHATSAPP).status == 200
    refused = channels.link(second["id"], "whatsapp", WHATSAPP)
    assert (refused.status, refused.body["error"]) == (409, "account_in_use")
    assert channels.binding("whatsapp", PHONE_NUMBER_ID) == first["id"]
    channels.api.call("DELETE", f"{A}/{first['id']}")
    assert channels.link(second["id"], "whatsapp", WHATSAPP).status == 200
    assert channels.binding("whatsapp", PHONE_NUMBER_ID) == second["id"]


def test_x_is_verified_with_the_accounts_oauth1_signature_and_must_be_the_account_linked(channels: Channels) -> None:
    agent = channels.agent("x")
    reply = channels.link(agent["id"], "twitter", X_LINK)  # the brief's name for X
    assert reply.status == 200, reply.body
    assert "@cozycomfort" in reply.body["detail"]
    assert reply.body["webhook_url"].endswith("/x")
    other = channels.link(agent["id"], "x", {**X_LINK, "user_id": "999"})
    assert other.status == 422
    assert "not user id 999" in other.body["message"]
    forged = channels.link(agent["id"], "x", {**X_LINK, "access_token_secret": "a-wrong-secret"})
    assert forged.status == 422


def test_instagram_checks_the_account_and_the_page_it_sends_as(channels: Channels) -> None:
    channels.platforms.meta["17841405822304914"] = MetaAccount(
        "EAAJB-page-token", APP_SECRET, {"username": "cozycomfort"}
    )
    agent = channels.agent("instagram")
    body = {
        "instagram_account_id": "17841405822304914",
        "page_id": "1067280970047460",
        "access_token": "EAAJB-page-token",
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
    }
    assert channels.link(agent["id"], "instagram", body).status == 422  # the page is unknown to that token
    channels.platforms.meta["1067280970047460"] = MetaAccount("EAAJB-page-token", APP_SECRET, {"name": "Cozy Comfort"})
    reply = channels.link(agent["id"], "instagram", body)
    assert reply.status == 200
    secret = channels.secret(Channel.INSTAGRAM)
    assert secret is not None
    assert secret.accounts["17841405822304914"].page_id == "1067280970047460"


def test_sms_links_the_tenants_imported_number_once_the_stack_publishes_it(
    channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = channels.agent("sms")
    assert "connect.sms" in agent["channels"][0]["detail"]
    missing = channels.link(agent["id"], "sms", {"phone_number": "+15557770000"})
    assert (missing.status, missing.body["error"]) == (409, "tenant_not_deployed")
    channels.api.aws["ssm"].put_parameter(
        Name=f"/oratio/tenants/{VENDOR_A}/connect/sms-number", Value="+15557770000", Type="String"
    )
    # The tenant directory caches what a stack published for a minute; a fresh one sees the deployment now.
    services = dataclasses.replace(channel_api.services(), tenants=channel_api.build_services.__wrapped__().tenants)
    monkeypatch.setattr(channel_api, "services", lambda: services)
    wrong = channels.link(agent["id"], "sms", {"phone_number": "+15550000000"})
    assert wrong.status == 422
    reply = channels.link(agent["id"], "sms", {"phone_number": "+15557770000"})
    assert (reply.status, reply.body["status"], reply.body["phone_number"]) == (200, "active", "+15557770000")
    assert channels.binding("sms", "+15557770000") == agent["id"]


def test_another_vendors_agent_is_not_found(channels: Channels) -> None:
    agent = channels.agent("whatsapp", vendor=VENDOR_B)
    assert channels.link(agent["id"], "whatsapp", WHATSAPP, vendor=VENDOR_A).status == 404


# ------------------------------------------------------------------------------------------ web chat
def _chat_started(channels: Channels, agent_id: str, customer: str, token: str | None = None) -> None:
    expected: dict[str, Any] = {
        "InstanceId": connect_instance_arn(VENDOR_A).rsplit("/", 1)[-1],
        "ContactFlowId": chat_flow_arn(VENDOR_A).rsplit("/", 1)[-1],
        "Attributes": {"agent_id": agent_id, "customer": customer},
        "ParticipantDetails": {"DisplayName": "Ana"},
        "SupportedMessagingContentTypes": ["text/plain"],
    }
    if token:
        expected["ClientToken"] = token
    channels.connect.add_response(
        "start_chat_contact",
        {
            "ContactId": "c0ffee00-0000-4000-8000-00000000c4a7",
            "ParticipantId": "p-1",
            "ParticipantToken": "AQIDAHh-token",
        },
        expected,
    )


def test_a_web_chat_starts_on_the_chat_flow_with_the_agent_and_the_customer_and_answers_the_token(
    channels: Channels,
) -> None:
    agent = channels.agent("chat")
    _chat_started(channels, agent["id"], "email:ana@example.com", token="site-chat-0001")
    reply = channels.api.call(
        "POST",
        f"{A}/{agent['id']}/chat",
        body={"display_name": "Ana", "customer_email": "Ana@Example.com"},
        headers={"Idempotency-Key": "site-chat-0001"},
    )
    assert reply.status == 201, reply.body
    assert (reply.body["participant_token"], reply.body["agent_id"]) == ("AQIDAHh-token", agent["id"])
    channels.connect.assert_no_pending_responses()


def test_an_anonymous_visitor_gets_a_chat_with_no_customer(channels: Channels) -> None:
    agent = channels.agent("chat")
    _chat_started(channels, agent["id"], "")
    assert channels.api.call("POST", f"{A}/{agent['id']}/chat", body={"display_name": "Ana"}).status == 201


def test_a_web_chat_for_an_agent_without_active_chat_is_refused(channels: Channels) -> None:
    agent = channels.agent("whatsapp")
    reply = channels.api.call("POST", f"{A}/{agent['id']}/chat", body={"display_name": "Ana"})
    assert (reply.status, reply.body["error"]) == (409, "chat_not_active")


def test_connect_throttling_answers_503(channels: Channels) -> None:
    agent = channels.agent("chat")
    channels.connect.add_client_error(
        "start_chat_contact", service_error_code="ThrottlingException", http_status_code=429
    )
    reply = channels.api.call("POST", f"{A}/{agent['id']}/chat", body={"display_name": "Ana"})
    assert (reply.status, reply.body["error"]) == (503, "platform_unavailable")


# ----------------------------------------------------------------------------------------- customers
def test_a_vendor_links_an_instagram_id_to_a_phone_customer_and_reads_the_profile_by_either(channels: Channels) -> None:
    linked = channels.api.call(
        "POST",
        "/api/v1/customers/phone/+16505551234/identities",
        body={"kind": "instagram", "value": "17841400000000001"},
    )
    assert linked.status == 200, linked.body
    assert linked.body["identities"] == ["phone:+16505551234", "instagram:17841400000000001"]
    by_instagram = channels.api.call("GET", "/api/v1/customers/instagram/17841400000000001")
    assert (by_instagram.status, by_instagram.body["customer_key"]) == (200, "phone:+16505551234")
    assert channels.api.call("GET", "/api/v1/customers/instagram/17841400000000001", vendor=VENDOR_B).status == 404


def test_a_whatsapp_number_reads_as_the_phone_customer_and_a_bad_number_is_422(channels: Channels) -> None:
    channels.api.call(
        "POST", "/api/v1/customers/phone/+16505551234/identities", body={"kind": "x", "value": "4337869213"}
    )
    assert (
        channels.api.call("GET", "/api/v1/customers/whatsapp/16505551234").body["customer_key"] == "phone:+16505551234"
    )
    assert channels.api.call("GET", "/api/v1/customers/phone/not-a-number").status == 422


def test_the_elizaos_secret_is_stored_and_never_answered(channels: Channels) -> None:
    secret = "e" * 40
    reply = channels.api.call("PUT", "/api/v1/webhooks/elizaos/secret", body={"secret": secret})
    assert reply.body == {"status": "stored"}
    stored = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=f"oratio/{VENDOR_A}/elizaos/webhook"
    )
    assert stored["SecretString"] == secret
    assert channels.api.call("PUT", "/api/v1/webhooks/elizaos/secret", body={"secret": "short"}).status == 422
