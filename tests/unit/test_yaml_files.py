"""Malformed tenant files (tests/fixtures/malformed_yaml/): each one fails with the file, the line and what to fix,
and the hostile ones (alias bombs, recursive aliases, deep nesting) are refused before anything is built, after
a bounded amount of work: counted here in composed nodes, never timed."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from oratio.config import TenantConfigError, load_tenant_file
from oratio.config.catalog import load_model_catalog
from oratio.config.yaml_files import LoadStats, YamlFileError, YamlLimits, load_yaml_file, load_yaml_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "malformed_yaml"
EXAMPLE = Path(__file__).resolve().parents[2] / "tenants" / "cozy-comfort.yaml"

# fixture -> (line the message names, what it says)
MALFORMED: dict[str, tuple[int, str]] = {
    "alias_bomb_products.yaml": (10, "expands to more than 20000 values once its aliases are written out"),
    "alias_bomb_input_schema.yaml": (15, "expands to more than 20000 values"),
    "alias_bomb_complete_tenant.yaml": (63, "expands to more than 20000 values"),
    "alias_bomb_merge_keys.yaml": (8, "expands to more than 20000 values"),
    "too_many_aliases.yaml": (70, "more than 64 aliases"),
    "recursive_alias_sequence.yaml": (4, "alias *loop is inside the value its anchor &loop names"),
    "recursive_alias_mapping.yaml": (6, "alias *me is inside the value its anchor &me names"),
    "recursive_alias_nested.yaml": (7, "a recursive alias"),
    "deep_flow_sequences.yaml": (4, "nested deeper than 32 levels; flatten the structure"),
    "deep_flow_mappings.yaml": (4, "nested deeper than 32 levels"),
    "deep_block_mappings.yaml": (35, "nested deeper than 32 levels"),
    "deep_through_aliases.yaml": (5, "through its aliases this value is nested deeper than 32 levels"),
    "duplicate_top_level_key.yaml": (7, "duplicate key 'tenant_id' (first at line 1); keep one of them"),
    "duplicate_nested_key.yaml": (8, "duplicate key 'monday' (first at line 6)"),
    "duplicate_flow_key.yaml": (6, "duplicate key 'voice_id'"),
    "duplicate_key_quoted.yaml": (4, "duplicate key 'name' (first at line 3)"),
    "duplicate_key_in_list_item.yaml": (8, "duplicate key 'name' (first at line 6)"),
    "undefined_alias.yaml": (4, "found undefined alias 'catalog'; define the anchor"),
    "duplicate_anchor.yaml": (5, "found duplicate anchor 'p'"),
    "tab_indentation.yaml": (5, "indent with spaces, not tabs"),
    "unclosed_quote.yaml": (6, "close the quote"),
    "unclosed_flow_sequence.yaml": (5, "close the list with ']'"),
    "python_object_tag.yaml": (4, "tags such as !!python/... are not allowed"),
    "multiple_documents.yaml": (4, "keep one document in the file"),
    "unhashable_key.yaml": (4, "keys must be plain words or numbers"),
    "bad_mapping_indentation.yaml": (5, "check this line's indentation"),
    "top_level_sequence.yaml": (1, "expected a mapping of tenant settings"),
    "utf16_le_with_bom.yaml": (1, "the file is UTF-16-encoded; save it as UTF-8"),
    "utf16_be_with_bom.yaml": (1, "the file is UTF-16-encoded; save it as UTF-8"),
    "utf16_le_without_bom.yaml": (1, "contains NUL bytes"),
    "utf32_with_bom.yaml": (1, "the file is UTF-32-encoded"),
    "latin1_text.yaml": (4, "byte 0xe9 is not valid UTF-8; save the file as UTF-8"),
    "invalid_utf8_sequence.yaml": (4, "byte 0xc3 is not valid UTF-8"),
    "binary_file.yaml": (1, "byte 0x89 is not valid UTF-8"),
    "control_character.yaml": (4, "character 0x7 is not allowed in YAML; remove it"),
}
HOSTILE = sorted(name for name in MALFORMED if name.startswith(("alias_bomb", "recursive", "deep", "too_many")))


def test_every_fixture_is_covered() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(MALFORMED)
    assert len(MALFORMED) >= 25


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_tenant_file_names_the_file_the_line_and_the_fix(name: str) -> None:
    line, expected = MALFORMED[name]
    with pytest.raises(TenantConfigError) as caught:
        load_tenant_file(FIXTURES / name)
    message = str(caught.value)
    assert message.startswith(f"{FIXTURES / name}: line {line}"), message
    assert expected in message
    assert "Traceback" not in message


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_are_refused_while_composing_after_bounded_work(name: str) -> None:
    stats = LoadStats()
    with pytest.raises(YamlFileError):
        load_yaml_file(FIXTURES / name, stats=stats)
    assert stats.constructed is False  # nothing was built, so nothing downstream sees the expansion
    # One visit per node written in the file (the largest fixture writes ~300), whatever the aliases multiply to.
    assert stats.composed_nodes <= 400
    assert stats.aliases <= YamlLimits().max_aliases + 1


def test_aliases_and_merge_keys_within_the_limits_still_load() -> None:
    text = (
        "base: &base {engine: neural, voice_id: Joanna}\n"
        "tiers:\n  standard: *base\n  premium:\n    <<: *base\n    voice_id: Ruth\n"
    )
    assert load_yaml_text(text) == {
        "base": {"engine": "neural", "voice_id": "Joanna"},
        "tiers": {
            "standard": {"engine": "neural", "voice_id": "Joanna"},
            "premium": {"engine": "neural", "voice_id": "Ruth"},
        },
    }


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(codecs.BOM_UTF8 + "name: Café\n".encode())
    assert load_yaml_file(path) == {"name": "Café"}


def test_a_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("products:\n" + "  - pillow\n" * 20_000)
    stats = LoadStats()
    with pytest.raises(YamlFileError, match=r"huge\.yaml: the file is larger than 128 KiB"):
        load_yaml_file(path, stats=stats)
    assert stats.composed_nodes == 0


def test_a_file_with_too_many_values_is_refused_while_composing() -> None:
    stats = LoadStats()
    with pytest.raises(YamlFileError, match="holds more than 100 values"):
        load_yaml_text("[" + ", ".join("x" for _ in range(500)) + "]", limits=YamlLimits(max_values=100), stats=stats)
    assert stats.composed_nodes == 101


def test_the_shipped_example_loads_within_the_limits() -> None:
    stats = LoadStats()
    load_yaml_file(EXAMPLE, stats=stats)
    assert stats.constructed
    assert load_tenant_file(EXAMPLE).tenant_id == "cozy-comfort"


def test_the_model_catalog_is_read_with_the_same_loader(tmp_path: Path) -> None:
    catalog = tmp_path / "model_catalog.yaml"
    catalog.write_text("models: []\nembedding_models: []\nmodels: [x]\n")
    with pytest.raises(YamlFileError, match=r"model_catalog\.yaml: line 3, column 1: duplicate key 'models'"):
        load_model_catalog(catalog)
