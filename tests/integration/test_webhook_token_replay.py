"""The telephony webhook's replay cache: a signed token's id is accepted once while the token could still be
accepted, by the DynamoDB adapter (moto; shared by every container) and the in-memory one alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oratio.adapters.dynamodb_webhook import WEBHOOK_TOKEN_SK_PREFIX, DynamoDBTokenReplayCache
from oratio.adapters.memory_voice import InMemoryTokenReplayCache
from oratio.tables import TENANT_STATE
from oratio.voice_bridge.webhooks import TokenReplayCache
from tests.integration.conftest import table_name

NOW = 1_800_000_000
VALID_UNTIL = NOW + 300


@pytest.fixture(params=["dynamodb", "memory"])
def make_cache(request: pytest.FixtureRequest) -> Callable[[], TokenReplayCache]:
    """A factory of caches over one store: each call is another Lambda container."""
    if request.param == "memory":
        shared = InMemoryTokenReplayCache()
        return lambda: shared
    client = request.getfixturevalue("dynamodb")
    return lambda: DynamoDBTokenReplayCache(table_name(TENANT_STATE), client=client)


def test_a_token_id_is_accepted_once_in_any_container(make_cache: Callable[[], TokenReplayCache]) -> None:
    assert make_cache().first_use("cozy-comfort", "jti-1", now=NOW, valid_until=VALID_UNTIL)
    assert not make_cache().first_use("cozy-comfort", "jti-1", now=NOW + 1, valid_until=VALID_UNTIL + 1)
    # Up to the last second the token is valid, it stays refused.
    assert not make_cache().first_use("cozy-comfort", "jti-1", now=VALID_UNTIL, valid_until=VALID_UNTIL + 300)


def test_other_token_ids_and_other_tenants_are_not_affected(make_cache: Callable[[], TokenReplayCache]) -> None:
    cache = make_cache()
    assert cache.first_use("cozy-comfort", "jti-1", now=NOW, valid_until=VALID_UNTIL)
    assert cache.first_use("cozy-comfort", "jti-2", now=NOW, valid_until=VALID_UNTIL)
    assert cache.first_use("second-tenant", "jti-1", now=NOW, valid_until=VALID_UNTIL)


def test_an_id_whose_token_has_expired_is_forgotten_even_before_the_ttl_deletes_it(
    make_cache: Callable[[], TokenReplayCache],
) -> None:
    cache = make_cache()
    assert cache.first_use("cozy-comfort", "jti-1", now=NOW, valid_until=VALID_UNTIL)
    assert cache.first_use("cozy-comfort", "jti-1", now=VALID_UNTIL + 1, valid_until=VALID_UNTIL + 301)


def test_the_dynamodb_item_sits_under_the_tenant_and_expires_with_the_token(dynamodb: Any) -> None:
    DynamoDBTokenReplayCache(table_name(TENANT_STATE), client=dynamodb).first_use(
        "cozy-comfort", "jti-1", now=NOW, valid_until=VALID_UNTIL
    )
    item = dynamodb.get_item(
        TableName=table_name(TENANT_STATE),
        Key={"pk": {"S": "cozy-comfort"}, "sk": {"S": f"{WEBHOOK_TOKEN_SK_PREFIX}jti-1"}},
    )["Item"]
    assert item["expires_at"] == {"N": str(VALID_UNTIL)}
    assert TENANT_STATE.ttl_attribute == "expires_at"
