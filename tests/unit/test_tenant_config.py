"""Tenant files: the shipped example loads; each kind of mistake fails with one actionable message."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from oratio.config import TenantConfigError, load_tenant_file, load_tenants
from oratio.config.tenant import Channel

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
EXAMPLE = TENANTS / "cozy-comfort.yaml"


def _example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def _write(tmp_path: Path, data: Any, name: str = "cozy-comfort") -> Path:
    if not (tmp_path / "knowledge").exists():
        shutil.copytree(TENANTS / "knowledge", tmp_path / "knowledge")
    path = tmp_path / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_cozy_comfort_example_matches_the_product_brief() -> None:
    tenant = load_tenant_file(EXAMPLE)
    assert tenant.business.name == "Cozy Comfort Bedding"
    assert tenant.business.products == ("bedding_sets", "pillows", "comforters", "duvets")
    assert tenant.business.tone == "friendly_helpful"
    assert tenant.business.hours.time_zone == "America/New_York"
    assert "30-day returns" in (tenant.business.policies.returns or "")
    assert "over $50" in (tenant.business.policies.shipping or "")
    assert set(tenant.channels) == {
        Channel.VOICE,
        Channel.CHAT,
        Channel.WHATSAPP,
        Channel.INSTAGRAM,
        Channel.FACEBOOK,
        Channel.X,
    }
    assert tenant.knowledge.dimensions == 1024


@pytest.mark.parametrize(
    ("when_utc", "is_open"),
    [
        (datetime(2026, 11, 25, 14, 0, tzinfo=UTC), True),  # Wed 09:00 EST opens
        (datetime(2026, 11, 25, 13, 59, tzinfo=UTC), False),  # Wed 08:59 EST
        (datetime(2026, 11, 25, 22, 59, tzinfo=UTC), True),  # Wed 17:59 EST
        (datetime(2026, 11, 25, 23, 0, tzinfo=UTC), False),  # Wed 18:00 EST closes
        (datetime(2026, 7, 1, 13, 0, tzinfo=UTC), True),  # Wed 09:00 EDT (daylight saving)
        (datetime(2026, 11, 29, 15, 0, tzinfo=UTC), False),  # Sunday: closed all day
    ],
)
def test_business_hours_are_judged_in_the_tenant_time_zone(when_utc: datetime, is_open: bool) -> None:
    assert load_tenant_file(EXAMPLE).business.hours.is_open(when_utc) is is_open


def _mutate(path: str, value: Any) -> dict[str, Any]:
    data = _example()
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return data


_DELETE = object()

BAD_FILES = [
    # (what is wrong, mutation, field path in the message, expectation in the message)
    ("wrong type", ("limits.max_concurrent_calls", "ten"), "limits.max_concurrent_calls", "valid integer"),
    (
        "unknown channel",
        ("channels", ["voice", "telegram"]),
        "channels[1]",
        "'telegram' is not a supported value",
    ),
    ("bad time zone", ("business.hours.time_zone", "America/Nowhere"), "business.hours.time_zone", "IANA"),
    ("bad phone country", ("connect.phone_number.country", "XX"), "connect.phone_number.country", "ISO 3166"),
    ("missing field", ("business.name", _DELETE), "business.name", "required"),
    ("unknown key", ("business.colour", "blue"), "business.colour", "unknown key"),
    ("bad hours", ("business.hours.monday", "9am-6pm"), "business.hours.monday", "HH:MM-HH:MM"),
    ("unknown model", ("agent.allowed_models", ["gpt-9"]), "agent.allowed_models", "model catalog"),
    (
        "bad embedding size",
        ("knowledge.embedding_dimensions", 768),
        "knowledge",
        "use one of [256, 512, 1024]",
    ),
    ("bad budget", ("agent.monthly_budget_usd", -5), "agent.monthly_budget_usd", "greater than 0"),
    ("unknown built-in tool", ("agent.tools", ["teleport"]), "agent.tools", "available: knowledge_search"),
    ("missing premium tier", ("agent.workflow", {"premium_tier": "gold"}), "<top level>", "is not one of voice.tiers"),
    ("bridge number not E.164", ("voice.bridge_numbers", ["5559870000"]), "voice.bridge_numbers[0]", "pattern"),
    (
        "repeated bridge number",
        ("voice.bridge_numbers", ["+15559870000", "+15559870000"]),
        "voice.bridge_numbers",
        "bridge numbers must not repeat",
    ),
    (
        "dial-through window past the lease",
        ("limits.call_slots", {"lease_seconds": 60, "dial_through_seconds": 90}),
        "limits.call_slots",
        "dial_through_seconds (90) must not exceed lease_seconds (60)",
    ),
    (
        "dial-through window too short",
        ("limits.call_slots", {"dial_through_seconds": 5}),
        "limits.call_slots.dial_through_seconds",
        "greater than or equal to 10",
    ),
]


def _business_tool(**changes: Any) -> dict[str, Any]:
    tool = dict(_example()["agent"]["business_tools"][0])
    tool.update(changes)
    return {**_example()["agent"], "business_tools": [tool]}


BAD_FILES += [
    (
        "http business tool",
        ("agent", _business_tool(url="http://api.example.com/x")),
        "agent.business_tools[0].url",
        "https",
    ),
    (
        "bad tool schema",
        ("agent", _business_tool(input_schema={"type": "object", "properties": {"n": {"type": "int"}}})),
        "agent.business_tools[0].input_schema",
        "not a valid JSON Schema",
    ),
    (
        "non-object tool schema",
        ("agent", _business_tool(input_schema={"type": "string"})),
        "agent.business_tools[0].input_schema",
        '"object"',
    ),
]


@pytest.mark.parametrize(("mistake", "mutation", "field", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_tenant_file_names_file_field_and_fix(
    tmp_path: Path, mistake: str, mutation: tuple[str, Any], field: str, expected: str
) -> None:
    path = _write(tmp_path, _mutate(*mutation))
    with pytest.raises(TenantConfigError) as caught:
        load_tenant_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid tenant configuration")
    assert f"  - {field}:" in message
    assert expected in message


def test_missing_knowledge_file_is_named_with_its_field(tmp_path: Path) -> None:
    data = _example()
    data["knowledge"]["sources"][1]["path"] = "knowledge/cozy-comfort/nope.md"
    with pytest.raises(
        TenantConfigError, match=r"knowledge\.sources\[1\]\.path: 'knowledge/cozy-comfort/nope\.md' not found"
    ):
        load_tenant_file(_write(tmp_path, data))


def test_tenant_id_must_match_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, _example(), name="someone-else")
    with pytest.raises(TenantConfigError, match=r"someone-else\.yaml: tenant_id: 'cozy-comfort' must match"):
        load_tenant_file(path)


def test_invalid_yaml_reports_file_and_position(tmp_path: Path) -> None:
    path = _write(tmp_path, "tenant_id: cozy-comfort\nbusiness: [unclosed\n")
    with pytest.raises(TenantConfigError, match=r"cozy-comfort\.yaml: line 3, column 1: not valid YAML"):
        load_tenant_file(path)


def test_missing_tenant_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TenantConfigError, match=r"nobody\.yaml: cannot read the file"):
        load_tenants(tmp_path, only="nobody")


def test_several_mistakes_are_reported_together(tmp_path: Path) -> None:
    data = _mutate("business.hours.time_zone", "Mars/Olympus")
    data["connect"]["phone_number"]["country"] = "ZZ"
    with pytest.raises(TenantConfigError) as caught:
        load_tenant_file(_write(tmp_path, data))
    assert "business.hours.time_zone" in str(caught.value)
    assert "connect.phone_number.country" in str(caught.value)


def _with_connect_voice(**settings: Any) -> dict[str, Any]:
    data = _example()
    data["voice"]["connect"] = {**data["voice"].get("connect", {}), **settings}
    return data


@pytest.mark.parametrize(
    ("settings", "field", "expected"),
    [
        ({"max_silence_seconds": 20}, "voice.connect.max_silence_seconds", "less than or equal to 10"),
        (
            {"max_silence_seconds": 2, "audio_filler_delay_ms": 2500},
            "voice.connect",
            "audio_filler_delay_ms (2500) must be below max_silence_seconds (2 s)",
        ),
        ({"speech_mode": "telepathy"}, "voice.connect.speech_mode", "'speech_to_speech' or 'cascaded'"),
        ({"audio_filler": "TROMBONE"}, "voice.connect.audio_filler", "TYPING_QUIET_QWERTY"),
        ({"sonic_model_id": "not a model"}, "voice.connect.sonic_model_id", "should match pattern"),
        (
            {"breaker": {"failure_threshold": 0}},
            "voice.connect.breaker.failure_threshold",
            "greater than or equal to 1",
        ),
        ({"holding_mesage": "typo"}, "voice.connect.holding_mesage", "unknown key"),
    ],
)
def test_bad_connect_voice_settings_name_the_field_and_the_fix(
    tmp_path: Path, settings: dict[str, Any], field: str, expected: str
) -> None:
    with pytest.raises(TenantConfigError) as error:
        load_tenant_file(_write(tmp_path, _with_connect_voice(**settings)))
    message = str(error.value)
    assert f"  - {field}:" in message
    assert expected in message


def test_a_language_without_a_nova_sonic_companion_voice_must_name_one_or_run_cascaded(tmp_path: Path) -> None:
    data = _example()
    data["voice"]["language"] = "fr-FR"
    with pytest.raises(TenantConfigError, match=r"connect\.sonic_prompt_voice .* or connect\.speech_mode: cascaded"):
        load_tenant_file(_write(tmp_path, data))
    data["voice"]["connect"]["sonic_prompt_voice"] = "Lea"
    assert load_tenant_file(_write(tmp_path, data)).voice.sonic_prompt_voice == "Lea"
    data["voice"]["connect"] = {"speech_mode": "cascaded"}
    assert load_tenant_file(_write(tmp_path, data)).voice.sonic_prompt_voice is None


def test_a_voice_tier_connect_cannot_play_stops_the_voice_profile_with_the_fix() -> None:
    from oratio.connect_voice.profile import VoiceProfile, VoiceProfileError

    tenant = load_tenant_file(EXAMPLE)
    tiers = dict(tenant.voice.tiers)
    tiers["premium"] = tiers["premium"].model_copy(update={"engine": "long-form"})
    broken = tenant.model_copy(update={"voice": tenant.voice.model_copy(update={"tiers": tiers})})
    with pytest.raises(VoiceProfileError, match=r"voice\.tiers\.premium\.engine 'long-form' is not available"):
        VoiceProfile.from_tenant(broken)


def test_bridge_numbers_of_the_tenant_file_are_read(tmp_path: Path) -> None:
    data = _mutate("voice.bridge_numbers", ["+15559870000", "+447700900123"])
    assert load_tenant_file(_write(tmp_path, data)).voice.bridge_numbers == ("+15559870000", "+447700900123")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.cozycomfort.com/v1/orders/status",
        "https://127.0.0.1/orders",
        "https://10.0.4.7/orders",
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/latest/meta-data/",
        "https://[::1]:8443/admin",
        "https://localhost/orders",
        "https://orders.internal/status",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://intranet/orders",
        "https://2130706433/orders",
        "https://user:secret@api.cozycomfort.com/v1/orders/status",
    ],
)
def test_a_business_tool_url_that_reaches_inside_fails_validation_naming_the_field(tmp_path: Path, url: str) -> None:
    data = _example()
    data["agent"] = _business_tool(url=url)
    with pytest.raises(TenantConfigError) as caught:
        load_tenant_file(_write(tmp_path, data))
    message = str(caught.value)
    assert "agent.business_tools[0].url: " in message
    assert "give the tenant's public https:// endpoint" in message


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("../../etc/passwd", "leaves the tenants/ folder ('..')"),
        ("knowledge/../../secrets.md", "leaves the tenants/ folder ('..')"),
        ("/etc/passwd", "is an absolute path"),
        ("C:\\Windows\\win.ini", "is an absolute path"),
    ],
)
def test_a_knowledge_path_that_leaves_the_tenants_folder_fails_validation(
    tmp_path: Path, path: str, expected: str
) -> None:
    data = _mutate("knowledge.sources", [{"name": "escape", "path": path}])
    with pytest.raises(TenantConfigError, match=r"knowledge\.sources\[0\]\.path: ") as caught:
        load_tenant_file(_write(tmp_path, data))
    assert expected in str(caught.value)


def test_a_knowledge_file_symlinked_out_of_the_tenants_folder_fails_validation(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secrets.md").write_text("not for the agent")
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "leak.md").symlink_to(outside / "secrets.md")
    data = _mutate("knowledge.sources", [{"name": "leak", "path": "leak.md"}])
    with pytest.raises(TenantConfigError) as caught:
        load_tenant_file(_write(tenants, data))
    assert "knowledge.sources[0].path: 'leak.md' resolves outside" in str(caught.value)


TENANT_FILE = Path(__file__).resolve().parents[2] / "tenants" / "cozy-comfort.yaml"
DISTINCT = {
    "connect.instance_alias": ("instance_alias: cozy-comfort-bedding", "instance_alias: aaa-test-bedding"),
    "business.contact.phone": ('phone: "+15552333464"', 'phone: "+15559990001"'),
}


def two_tenants(folder: Path, shared: str | None) -> None:
    """cozy-comfort and a copy as aaa-test whose alias and number differ, except the `shared` field."""
    text = TENANT_FILE.read_text()
    shutil.copytree(TENANT_FILE.parent / "knowledge", folder / "knowledge")  # a symlink out would be refused
    (folder / "cozy-comfort.yaml").write_text(text)
    other = text.replace("tenant_id: cozy-comfort", "tenant_id: aaa-test")
    for field, (old, new) in DISTINCT.items():
        if field != shared:
            other = other.replace(old, new)
    (folder / "aaa-test.yaml").write_text(other)


@pytest.mark.parametrize("field", sorted(DISTINCT))
def test_two_tenants_sharing_an_alias_or_a_number_fail_with_both_files_named(tmp_path: Path, field: str) -> None:
    two_tenants(tmp_path, shared=field)

    with pytest.raises(TenantConfigError) as raised:
        load_tenants(tmp_path)

    message = str(raised.value)
    assert field in message
    assert "aaa-test.yaml" in message
    assert "cozy-comfort.yaml" in message


def test_distinct_tenants_load_together(tmp_path: Path) -> None:
    two_tenants(tmp_path, shared=None)
    assert [t.tenant_id for t in load_tenants(tmp_path)] == ["aaa-test", "cozy-comfort"]


def test_the_synth_bench_makes_tenants_that_load_together(tmp_path: Path) -> None:
    from bench.synth import make_tenants

    make_tenants(tmp_path, 3)
    assert [t.tenant_id for t in load_tenants(tmp_path)] == ["tenant-000", "tenant-001", "tenant-002"]
