"""`TextVault` on AWS KMS: raw transcript lines encrypted with the tenant's key, bound to tenant and session
by the encryption context (a ciphertext moved to another conversation does not decrypt)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

KMS_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 3})


class VaultError(Exception):
    """KMS refused or could not be reached; the message names the operation, never the text."""


class KmsTextVault:
    def __init__(self, key_id: str, client: Any | None = None) -> None:
        self._key_id = key_id
        self._client_instance = client

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("kms", config=KMS_CONFIG)
        return self._client_instance

    async def seal(self, tenant_id: str, session_id: str, text: str) -> str:
        return await asyncio.to_thread(self._seal, tenant_id, session_id, text)

    def _seal(self, tenant_id: str, session_id: str, text: str) -> str:
        try:
            response = self._client.encrypt(
                KeyId=self._key_id,
                Plaintext=text.encode(),
                EncryptionContext={"tenant_id": tenant_id, "session_id": session_id},
            )
        except (ClientError, BotoCoreError) as e:
            raise VaultError(f"KMS encrypt with {self._key_id}: {type(e).__name__}") from e
        return base64.b64encode(response["CiphertextBlob"]).decode()

    def open(self, tenant_id: str, session_id: str, sealed: str) -> str:
        """Decrypt a sealed text (for an operator's tooling; the vendor API never returns raw text)."""
        try:
            response = self._client.decrypt(
                CiphertextBlob=base64.b64decode(sealed),
                EncryptionContext={"tenant_id": tenant_id, "session_id": session_id},
            )
        except (ClientError, BotoCoreError) as e:
            raise VaultError(f"KMS decrypt: {type(e).__name__}") from e
        return bytes(response["Plaintext"]).decode()
