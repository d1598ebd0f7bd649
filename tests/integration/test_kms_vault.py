"""Raw transcript lines sealed with the tenant's KMS key (moto KMS): they decrypt only for their own
conversation."""

from __future__ import annotations

import asyncio

import boto3
import pytest
from moto import mock_aws

from oratio.adapters.kms_vault import KmsTextVault, VaultError


@mock_aws
def test_a_sealed_line_opens_only_in_its_own_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("kms", region_name="us-east-1")
    key = client.create_key(Description="tenant raw transcripts")["KeyMetadata"]["Arn"]
    vault = KmsTextVault(key, client=client)

    sealed = asyncio.run(vault.seal("cozy-comfort", "call-1", '{"user_text": "my number is 212-555-0187"}'))

    assert "212-555-0187" not in sealed
    assert vault.open("cozy-comfort", "call-1", sealed) == '{"user_text": "my number is 212-555-0187"}'
    with pytest.raises(VaultError):
        vault.open("cozy-comfort", "call-2", sealed)
