"""Replies cut to each platform's limit, the waits platforms ask for in their headers, and the tenant file's
messaging settings (SMS number, notices, the email codes come from)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from oratio.channels.delivery import TEXT_LIMITS, retry_after_seconds, split_reply
from oratio.channels.lifecycle import MessagingWording
from oratio.config import TenantConfigError, load_tenant_file
from oratio.config.tenant import Channel

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
TENANTS = Path(__file__).resolve().parents[2] / "tenants"
TEXT_CHANNELS = list(TEXT_LIMITS)


# ---------------------------------------------------------------------------------------- splitting
def _size(part: str, channel: Channel) -> int:
    return len(part.encode()) if channel is Channel.INSTAGRAM else len(part)


@settings(max_examples=150, deadline=None)
@given(
    channel=st.sampled_from(TEXT_CHANNELS),
    words=st.lists(
        st.one_of(
            st.text(alphabet="abcdefghij.!?é€😀", min_size=1, max_size=40),
            st.text(alphabet="xyz", min_size=900, max_size=2_500),  # long URLs and the like
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_every_part_fits_the_platform_and_nothing_is_lost_or_reordered(channel: Channel, words: list[str]) -> None:
    text = " ".join(words)
    parts = split_reply(text, channel)
    assert all(0 < _size(p, channel) <= TEXT_LIMITS[channel] for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


def test_a_short_reply_is_one_message_and_sentences_are_kept_whole_when_they_fit() -> None:
    assert split_reply("  Hello there. How can I help?  ", Channel.WHATSAPP) == ["Hello there. How can I help?"]
    sentence = "word " * 150 + "end."  # 754 characters
    parts = split_reply(f"{sentence} {sentence}", Channel.INSTAGRAM)
    assert parts == [sentence, sentence]


def test_instagram_counts_bytes_so_accented_and_emoji_text_is_cut_sooner() -> None:
    text = " ".join(["😀😀😀😀"] * 100)  # 400 emoji: 1,600 bytes, 499 characters
    assert len(split_reply(text, Channel.INSTAGRAM)) == 2
    assert len(split_reply(text, Channel.FACEBOOK)) == 1


# -------------------------------------------------------------------------------------- waits asked
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"retry-after": format_datetime(NOW + timedelta(seconds=90), usegmt=True)}, 90.0),
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW.timestamp()) + 900)}, 900.0),
        ({"x-rate-limit-remaining": "5", "x-rate-limit-reset": str(int(NOW.timestamp()) + 900)}, None),
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {"106540352242922": [{"type": "whatsapp", "call_count": 100, "estimated_time_to_regain_access": 2}]}
                )
            },
            120.0,
        ),
        ({"X-App-Usage": json.dumps({"call_count": 100, "estimated_time_to_regain_access": 1})}, 60.0),
        ({"X-App-Usage": json.dumps({"call_count": 40, "estimated_time_to_regain_access": 0})}, None),
        ({"X-App-Usage": "not json"}, None),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
    ids=[
        "seconds",
        "http-date",
        "x-reset",
        "x-remaining",
        "meta-buc",
        "meta-app",
        "meta-zero",
        "bad-json",
        "bad",
        "none",
    ],
)
def test_the_wait_a_platform_names_is_read_from_its_own_headers(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_seconds(headers, NOW) == expected


def test_a_wait_in_the_past_is_no_wait() -> None:
    assert retry_after_seconds({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1"}, NOW) == 0.0


# ---------------------------------------------------------------------------------- the tenant file
def _tenant(tmp_path: Path, **sections: Any) -> Path:
    data = yaml.safe_load((TENANTS / "cozy-comfort.yaml").read_text())
    for path, value in sections.items():
        *parents, leaf = path.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    folder = tmp_path / f"tenant-{len(list(tmp_path.iterdir()))}"  # one folder per file written
    folder.mkdir()
    shutil.copytree(TENANTS / "knowledge", folder / "knowledge")  # a symlink out of the folder is refused
    target = folder / "cozy-comfort.yaml"
    target.write_text(yaml.safe_dump(data))
    return target


def test_the_notices_default_to_sentences_with_the_business_name_and_the_file_can_set_each(tmp_path: Path) -> None:
    default = MessagingWording.from_tenant(load_tenant_file(_tenant(tmp_path)))
    assert "Cozy Comfort" in default.paused_message
    assert "Cozy Comfort" in default.closed_message
    tenant = load_tenant_file(_tenant(tmp_path, messaging__paused_message="Back at nine!"))
    assert MessagingWording.from_tenant(tenant).paused_message == "Back at nine!"


def test_an_sms_number_is_an_end_user_messaging_phone_number_arn(tmp_path: Path) -> None:
    arn = "arn:aws:sms-voice:us-east-1:111122223333:phone-number/phone-0123456789abcdef0123456789abcdef"
    tenant = load_tenant_file(_tenant(tmp_path, connect__sms={"phone_number_arn": arn}))
    assert tenant.connect.sms is not None
    assert tenant.connect.sms.phone_number_arn == arn
    with pytest.raises(TenantConfigError) as caught:
        load_tenant_file(_tenant(tmp_path, connect__sms={"phone_number_arn": "+16505550100"}))
    assert "connect.sms.phone_number_arn" in str(caught.value)


@pytest.mark.parametrize(
    ("section", "value", "field"),
    [
        ("customers__verification_email_from", "not-an-address", "customers.verification_email_from"),
        ("messaging__closed_message", "", "messaging.closed_message"),
        ("messaging__greeting", "hi", "messaging.greeting"),
    ],
)
def test_a_bad_messaging_setting_names_its_field(tmp_path: Path, section: str, value: str, field: str) -> None:
    with pytest.raises(TenantConfigError) as caught:
        load_tenant_file(_tenant(tmp_path, **{section: value}))
    assert f"  - {field}:" in str(caught.value)
