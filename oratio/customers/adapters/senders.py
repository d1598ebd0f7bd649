"""Code senders over AWS: SMS through AWS End User Messaging SMS (`pinpoint-sms-voice-v2` SendTextMessage, from
the tenant's own number) and email through Amazon SES (v2 SendEmail, from an address the operator verified).
boto3 blocks, so each call runs in a worker thread."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.customers.ports import CodeDeliveryError

CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
EMAIL_SUBJECT = "Your verification code"


class SmsCodeSender:
    """Sends codes as transactional SMS from `origination_identity` (the phone number's ARN or id)."""

    def __init__(self, origination_identity: str, *, client: Any | None = None) -> None:
        self._origin = origination_identity
        self._client = client or boto3.client("pinpoint-sms-voice-v2", config=CLIENT_CONFIG)

    async def send_code(self, address: str, text: str, *, at: datetime) -> None:
        await asyncio.to_thread(self._send, address, text)

    def _send(self, address: str, text: str) -> None:
        try:
            self._client.send_text_message(
                DestinationPhoneNumber=address,
                OriginationIdentity=self._origin,
                MessageBody=text,
                MessageType="TRANSACTIONAL",
            )
        except (ClientError, BotoCoreError) as e:
            code = (
                e.response.get("Error", {}).get("Code", "Unknown") if isinstance(e, ClientError) else type(e).__name__
            )
            raise CodeDeliveryError(f"End User Messaging SMS SendTextMessage failed ({code})") from e


class EmailCodeSender:
    """Sends codes as plain-text email from `from_address` (an SES identity of the tenant)."""

    def __init__(self, from_address: str, *, client: Any | None = None) -> None:
        self._from = from_address
        self._client = client or boto3.client("sesv2", config=CLIENT_CONFIG)

    async def send_code(self, address: str, text: str, *, at: datetime) -> None:
        await asyncio.to_thread(self._send, address, text)

    def _send(self, address: str, text: str) -> None:
        try:
            self._client.send_email(
                FromEmailAddress=self._from,
                Destination={"ToAddresses": [address]},
                Content={
                    "Simple": {
                        "Subject": {"Data": EMAIL_SUBJECT, "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                    }
                },
            )
        except (ClientError, BotoCoreError) as e:
            code = (
                e.response.get("Error", {}).get("Code", "Unknown") if isinstance(e, ClientError) else type(e).__name__
            )
            raise CodeDeliveryError(f"SES SendEmail failed ({code})") from e
