"""Amazon Connect's StartChatContact for web chats started through the vendor API."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.channels.web_chat import ChatStartError, WebChatSession

CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
RETRYABLE = frozenset({"ThrottlingException", "LimitExceededException", "InternalServiceException"})
# Text only: the chat flow's bot answers in plain text.
CONTENT_TYPES = ["text/plain"]


def _id(arn: str) -> str:
    """The resource id at the end of an ARN (…:instance/<id>, …/contact-flow/<id>); an id stays an id."""
    return arn.rsplit("/", 1)[-1]


class ConnectChatStarter:
    def __init__(self, *, client: Any | None = None) -> None:
        self._client = client or boto3.client("connect", config=CLIENT_CONFIG)

    def start(
        self,
        *,
        instance_arn: str,
        flow_arn: str,
        attributes: dict[str, str],
        display_name: str,
        client_token: str | None,
    ) -> WebChatSession:
        request: dict[str, Any] = {
            "InstanceId": _id(instance_arn),
            "ContactFlowId": _id(flow_arn),
            "Attributes": attributes,
            "ParticipantDetails": {"DisplayName": display_name},
            "SupportedMessagingContentTypes": CONTENT_TYPES,
        }
        if client_token:
            request["ClientToken"] = client_token
        try:
            response = self._client.start_chat_contact(**request)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", "Unknown"))
            raise ChatStartError(
                f"StartChatContact failed ({code})",
                retryable=code in RETRYABLE,
                missing=code == "ResourceNotFoundException",
            ) from e
        except BotoCoreError as e:
            raise ChatStartError(f"StartChatContact failed ({type(e).__name__})", retryable=True) from e
        return WebChatSession(
            agent_id=attributes.get("agent_id", ""),
            contact_id=str(response["ContactId"]),
            participant_id=str(response["ParticipantId"]),
            participant_token=str(response["ParticipantToken"]),
        )
