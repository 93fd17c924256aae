"""The model catalog: litellm's numbers, the PRD's tiers, dynamic lists, cost estimates."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from providers import catalog
from providers.adapters.base import ModelSpec

ROOT = Path(__file__).resolve().parents[2]


def spec_of(provider: str, model_id: str) -> ModelSpec:
    spec = catalog.get_spec(provider, model_id)
    assert spec is not None, f"{provider}:{model_id} is not in the catalog"
    return spec


@pytest.fixture(autouse=True)
def _no_dynamic_entries() -> Iterator[None]:
    catalog.clear_dynamic()
    yield
    catalog.clear_dynamic()


@pytest.mark.parametrize(
    ("provider", "model_id", "tier"),
    [
        ("anthropic", "claude-opus-4-6", "premium"),
        ("anthropic", "claude-sonnet-4-6", "standard"),
        ("anthropic", "claude-haiku-4-5", "cheap"),
        ("openai", "gpt-5.4", "premium"),
        ("zai", "glm-5", "standard"),
        ("ollama", "llama3.2", "local"),
    ],
)
def test_prd_models_exist_with_their_tiers(provider: str, model_id: str, tier: str) -> None:
    spec = catalog.get_spec(provider, model_id)

    assert spec is not None
    assert spec.tier == tier
    assert spec.tools is True
    assert spec.streaming is True


def test_numbers_come_from_litellm() -> None:
    haiku = spec_of("anthropic", "claude-haiku-4-5")
    opus = spec_of("anthropic", "claude-opus-4-6")
    gpt = spec_of("openai", "gpt-5.4")
    glm = spec_of("zai", "glm-5")

    assert (haiku.context_window, haiku.max_output) == (200_000, 64_000)
    assert (opus.context_window, opus.max_output) == (1_000_000, 128_000)
    assert (gpt.context_window, gpt.max_output) == (1_050_000, 128_000)
    assert (glm.context_window, glm.max_output) == (200_000, 128_000)
    assert (haiku.input_cost_per_mtok, haiku.output_cost_per_mtok) == (1.0, 5.0)
    assert (opus.input_cost_per_mtok, opus.output_cost_per_mtok) == (5.0, 25.0)
    assert (gpt.input_cost_per_mtok, gpt.output_cost_per_mtok) == (2.5, 15.0)
    assert (glm.input_cost_per_mtok, glm.output_cost_per_mtok) == (1.0, 3.2)


def test_every_static_model_has_prices() -> None:
    for spec in catalog.all_static_models():
        assert spec.input_cost_per_mtok is not None, spec.key
        assert spec.output_cost_per_mtok is not None, spec.key


def test_prd_capabilities_fill_what_litellm_lacks() -> None:
    llama = spec_of("ollama", "llama3.2")  # not in litellm's map at all
    nomic = spec_of("ollama", "nomic-embed-text")
    mxbai = spec_of("ollama", "mxbai-embed-large")

    assert (llama.context_window, llama.tools, llama.vision) == (128_000, True, False)
    assert llama.input_cost_per_mtok == 0.0
    assert (nomic.embedding_dims, nomic.tools, nomic.streaming) == (768, False, False)
    assert mxbai.embedding_dims == 1024


def test_claude_and_gpt_see_images() -> None:
    for provider, model_id in [
        ("anthropic", "claude-opus-4-6"),
        ("anthropic", "claude-sonnet-4-6"),
        ("anthropic", "claude-haiku-4-5"),
        ("openai", "gpt-5.4"),
    ]:
        assert spec_of(provider, model_id).vision, model_id


def test_openai_embedding_models_have_dimensions() -> None:
    small = spec_of("openai", "text-embedding-3-small")
    large = spec_of("openai", "text-embedding-3-large")

    assert (small.embedding_dims, large.embedding_dims) == (1536, 3072)
    assert small.tools is False


def test_litellm_ollama_entries_are_local_models() -> None:
    ollama = {spec.id: spec for spec in catalog.static_models("ollama")}

    assert {"llama3.1", "llama3.2", "mistral", "nomic-embed-text"} <= set(ollama)
    assert {spec.tier for spec in ollama.values()} == {"local"}
    assert ollama["llama3.1"].context_window == 8_192


def test_unknown_models_have_no_spec() -> None:
    assert catalog.get_spec("openai", "gpt-1") is None
    assert catalog.get_spec("nope", "claude-opus-4-6") is None
    assert catalog.static_models("nope") == []


def test_tagged_ollama_names_fall_back_to_the_untagged_entry() -> None:
    spec = catalog.get_spec("ollama", "llama3.2:latest")

    assert spec is not None
    assert spec.id == "llama3.2:latest"
    assert spec.context_window == 128_000


def test_dynamic_entries_are_found_and_win_over_static_ones() -> None:
    routed = ModelSpec("openrouter", "x/model", "X", "cheap", 8_000, 1_000)
    local = ModelSpec("ollama", "llama3.2", "Llama 3.2 (local)", "local", 32_000, 2_000)

    catalog.register_dynamic("openrouter", [routed])
    catalog.register_dynamic("ollama", [local])

    assert catalog.get_spec("openrouter", "x/model") == routed
    assert catalog.get_spec("ollama", "llama3.2") == local
    assert catalog.dynamic_models("openrouter") == [routed]
    catalog.register_dynamic("openrouter", [])
    assert catalog.get_spec("openrouter", "x/model") is None


def test_estimate_cost_uses_prices_per_million_tokens() -> None:
    sonnet = catalog.get_spec("anthropic", "claude-sonnet-4-6")
    assert sonnet is not None

    assert catalog.estimate_cost(sonnet, 1_000_000, 0) == pytest.approx(3.0)
    assert catalog.estimate_cost(sonnet, 2_000, 1_000) == pytest.approx(0.021)
    unpriced = ModelSpec("openrouter", "openrouter/auto", "Auto", "standard", 1, 1)
    assert catalog.estimate_cost(unpriced, 10, 10) is None


@pytest.mark.parametrize(
    ("prices", "tier"),
    [
        ((0.0, 0.0), "free"),
        ((1.0, 5.0), "cheap"),
        ((3.0, 15.0), "standard"),
        ((5.0, 25.0), "premium"),
        ((None, None), "standard"),
    ],
)
def test_tier_for_price_thresholds(prices: tuple[float | None, float | None], tier: str) -> None:
    assert catalog.tier_for_price(*prices) == tier


def test_catalog_file_records_where_its_numbers_came_from() -> None:
    meta = catalog.catalog_metadata()

    assert meta["litellm_version"] not in ("", "unknown")
    assert date.fromisoformat(meta["generated_on"])
    assert meta["missing_from_litellm"] == []


LITELLM_SAMPLE = {
    "sample_spec": {"max_input_tokens": "max input tokens"},
    "claude-haiku-4-5": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "max_input_tokens": 200_000,
        "max_output_tokens": 64_000,
        "input_cost_per_token": 1e-06,
        "output_cost_per_token": 5e-06,
        "supports_function_calling": True,
        "supports_vision": True,
        "cache_read_input_token_cost": 1e-07,
    },
    "ollama/llama3.1": {"litellm_provider": "ollama", "mode": "chat", "max_tokens": 8192},
    "gpt-4o": {"litellm_provider": "openai", "mode": "chat"},
}


def test_extract_keeps_only_the_selected_entries_and_fields() -> None:
    document = catalog.extract_catalog(
        LITELLM_SAMPLE, litellm_version="9.9.9", generated_on=date(2026, 1, 2)
    )

    assert document["_meta"]["litellm_version"] == "9.9.9"
    assert document["_meta"]["generated_on"] == "2026-01-02"
    assert set(document["models"]) == {"anthropic", "ollama"}
    haiku = document["models"]["anthropic"]["claude-haiku-4-5"]
    assert haiku["litellm_key"] == "claude-haiku-4-5"
    assert "cache_read_input_token_cost" not in haiku
    assert document["models"]["ollama"]["llama3.1"]["max_tokens"] == 8192
    assert "claude-opus-4-6" in document["_meta"]["missing_from_litellm"]
    specs = catalog.build_specs(document)
    assert specs["anthropic"]["claude-haiku-4-5"].output_cost_per_mtok == 5.0
    assert specs["anthropic"]["claude-opus-4-6"].tier == "premium"  # overlay-only row


def test_litellm_map_is_read_from_a_wheel_or_a_json_file(tmp_path: Path) -> None:
    wheel = tmp_path / "litellm-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "litellm/model_prices_and_context_window_backup.json", json.dumps(LITELLM_SAMPLE)
        )
        archive.writestr("litellm-9.9.9.dist-info/METADATA", "Name: litellm\nVersion: 9.9.9\n")
    plain = tmp_path / "model_prices_and_context_window.json"
    plain.write_text(json.dumps(LITELLM_SAMPLE))

    from_wheel, wheel_version = catalog.read_litellm_source(wheel)
    from_json, json_version = catalog.read_litellm_source(plain)

    assert from_wheel == from_json == LITELLM_SAMPLE
    assert wheel_version == "9.9.9"
    assert json_version == "unknown"


def test_catalog_and_adapters_import_without_django_or_litellm() -> None:
    code = (
        "import sys, providers.catalog, providers.adapters.openai, "
        "providers.adapters.openrouter, providers.adapters.zai; "
        "providers.catalog.all_static_models(); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'litellm')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_update_model_catalog_command_writes_the_catalog_from_a_wheel(tmp_path: Path) -> None:
    from providers.management.commands.update_model_catalog import Command

    wheel = tmp_path / "litellm-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "litellm/model_prices_and_context_window_backup.json", json.dumps(LITELLM_SAMPLE)
        )
        archive.writestr("litellm-9.9.9.dist-info/METADATA", "Version: 9.9.9\n")
    output = tmp_path / "catalog.json"

    Command().handle(source=wheel, output=output)

    document = json.loads(output.read_text())
    assert document["_meta"]["litellm_version"] == "9.9.9"
    assert document["models"]["anthropic"]["claude-haiku-4-5"]["max_input_tokens"] == 200_000
