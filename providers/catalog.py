"""The model catalog: what each model Mosaic knows can do, how big it is and what it costs.

Numbers come from litellm's bundled model map (``model_prices_and_context_window.json``), read as
data: litellm itself is never imported (it is ~200 MB and takes seconds to import). The entries
Mosaic uses are extracted into ``providers/data/model_catalog.json`` by
``manage.py update_model_catalog``, which records the litellm version and date they came from;
that file is the only thing read at run time.

litellm has no notion of Mosaic's cost tiers, and it lacks some models (``llama3.2``, the Ollama
embedding models), so the PRD's "Model Reference" table is overlaid as a floor: tiers and display
names always come from the overlay; numbers come from litellm when it has them; a capability the
overlay declares is kept even when litellm does not list it.

Dynamic lists (OpenRouter's ``/models``, Ollama's ``/api/tags``) are registered here in process
by the adapters that fetch them, so ``get_spec`` answers for them too. This module imports nothing
from Django: the chat hot path and the adapters use it directly.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from providers.adapters.base import ModelSpec

CATALOG_PATH = Path(__file__).resolve().parent / "data" / "model_catalog.json"

# The litellm map inside the wheel: the "backup" copy is the one litellm ships and reads when
# LITELLM_LOCAL_MODEL_COST_MAP is set; older wheels also carry the unsuffixed name.
_WHEEL_MAP_NAMES = (
    "litellm/model_prices_and_context_window_backup.json",
    "model_prices_and_context_window_backup.json",
    "litellm/model_prices_and_context_window.json",
    "model_prices_and_context_window.json",
)

# Which litellm entries Mosaic knows, as Mosaic provider -> {Mosaic model id: litellm key}.
LITELLM_SELECTION: dict[str, dict[str, str]] = {
    "anthropic": {
        "claude-opus-4-6": "claude-opus-4-6",
        "claude-sonnet-4-6": "claude-sonnet-4-6",
        "claude-haiku-4-5": "claude-haiku-4-5",
    },
    "openai": {
        "gpt-5.4": "gpt-5.4",
        "gpt-5.4-mini": "gpt-5.4-mini",
        "gpt-5.4-nano": "gpt-5.4-nano",
        "text-embedding-3-small": "text-embedding-3-small",
        "text-embedding-3-large": "text-embedding-3-large",
    },
    "zai": {
        "glm-5": "zai/glm-5",
        "glm-5.1": "zai/glm-5.1",
        "glm-4.7": "zai/glm-4.7",
    },
}
# Providers whose every litellm entry under a key prefix is taken (the prefix is stripped).
LITELLM_PREFIXES: dict[str, str] = {"ollama": "ollama/"}

# The fields of a litellm entry that the mapping below reads; everything else is left behind.
_KEPT_FIELDS = (
    "litellm_provider",
    "mode",
    "max_input_tokens",
    "max_output_tokens",
    "max_tokens",
    "input_cost_per_token",
    "output_cost_per_token",
    "output_vector_size",
    "supports_function_calling",
    "supports_vision",
    "supports_reasoning",
    "source",
)

# The overlay. Rows marked PRD are the PRD's "Model Reference" table (tier, and capabilities the
# table states); the other rows are Mosaic's own choices for the siblings it also lists.
# Keys: tier, display_name, and optionally context_window, max_output, tools, vision, reasoning,
# streaming, embedding_dims, input/output_cost_per_mtok (used only where litellm has no value;
# booleans are OR-ed with litellm's).
OVERLAY: dict[tuple[str, str], dict[str, Any]] = {
    # PRD
    ("anthropic", "claude-opus-4-6"): {
        "tier": "premium",
        "display_name": "Claude Opus 4.6",
        "context_window": 200_000,
        "tools": True,
        "vision": True,
    },
    ("anthropic", "claude-sonnet-4-6"): {
        "tier": "standard",
        "display_name": "Claude Sonnet 4.6",
        "context_window": 200_000,
        "tools": True,
        "vision": True,
    },
    ("anthropic", "claude-haiku-4-5"): {
        "tier": "cheap",
        "display_name": "Claude Haiku 4.5",
        "context_window": 200_000,
        "tools": True,
        "vision": True,
    },
    ("openai", "gpt-5.4"): {
        "tier": "premium",
        "display_name": "GPT-5.4",
        "context_window": 128_000,
        "tools": True,
        "vision": True,
    },
    ("zai", "glm-5"): {"tier": "standard", "display_name": "GLM-5"},
    ("ollama", "llama3.2"): {
        "tier": "local",
        "display_name": "Llama 3.2",
        "input_cost_per_mtok": 0.0,
        "output_cost_per_mtok": 0.0,
        "context_window": 128_000,
        # Ollama has no output limit apart from the context; this is Mosaic's practical cap.
        "max_output": 8_192,
        "tools": True,
        "vision": False,
    },
    ("ollama", "nomic-embed-text"): {
        "tier": "local",
        "display_name": "nomic-embed-text",
        "input_cost_per_mtok": 0.0,
        "output_cost_per_mtok": 0.0,
        "context_window": 8_192,
        "max_output": 0,
        "tools": False,
        "streaming": False,
        "embedding_dims": 768,
    },
    ("ollama", "mxbai-embed-large"): {
        "tier": "local",
        "display_name": "mxbai-embed-large",
        "input_cost_per_mtok": 0.0,
        "output_cost_per_mtok": 0.0,
        "context_window": 512,
        "max_output": 0,
        "tools": False,
        "streaming": False,
        "embedding_dims": 1024,
    },
    # Mosaic's choices for the siblings
    ("openai", "gpt-5.4-mini"): {"tier": "standard", "display_name": "GPT-5.4 mini"},
    ("openai", "gpt-5.4-nano"): {"tier": "cheap", "display_name": "GPT-5.4 nano"},
    ("openai", "text-embedding-3-small"): {
        "tier": "cheap",
        "display_name": "text-embedding-3-small",
    },
    ("openai", "text-embedding-3-large"): {
        "tier": "cheap",
        "display_name": "text-embedding-3-large",
    },
    ("zai", "glm-5.1"): {"tier": "standard", "display_name": "GLM-5.1"},
    ("zai", "glm-4.7"): {"tier": "cheap", "display_name": "GLM-4.7"},
}
# Tier for a catalog entry with no overlay row.
_DEFAULT_TIER = {"ollama": "local"}

# Price thresholds for deriving a tier from a price (OpenRouter's dynamic list, and entries with
# no overlay row), on the output price in USD per million tokens because output dominates a chat
# turn's cost: free = both prices 0; cheap <= $5 (Haiku 4.5's price); standard <= $15 (Sonnet
# 4.6's); premium above that.
CHEAP_MAX_OUTPUT_PER_MTOK = 5.0
STANDARD_MAX_OUTPUT_PER_MTOK = 15.0


def tier_for_price(input_per_mtok: float | None, output_per_mtok: float | None) -> str:
    """The cost tier a price puts a model in; "standard" when the price is unknown."""
    if input_per_mtok is None or output_per_mtok is None:
        return "standard"
    if input_per_mtok == 0 and output_per_mtok == 0:
        return "free"
    if output_per_mtok <= CHEAP_MAX_OUTPUT_PER_MTOK:
        return "cheap"
    if output_per_mtok <= STANDARD_MAX_OUTPUT_PER_MTOK:
        return "standard"
    return "premium"


def estimate_cost(spec: ModelSpec, input_tokens: int, output_tokens: int) -> float | None:
    """Estimated USD cost of a call, or None when the model's prices are unknown."""
    if spec.input_cost_per_mtok is None or spec.output_cost_per_mtok is None:
        return None
    return (
        input_tokens * spec.input_cost_per_mtok + output_tokens * spec.output_cost_per_mtok
    ) / 1_000_000


# --- reading the catalog -----------------------------------------------------------------------


def _per_mtok(per_token: Any) -> float | None:
    if not isinstance(per_token, int | float) or isinstance(per_token, bool):
        return None
    # Rounded so 3e-06 * 1e6 reads 3.0, not 2.9999999999999996.
    return round(float(per_token) * 1_000_000, 6)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _to_spec(provider: str, model_id: str, entry: Mapping[str, Any] | None) -> ModelSpec:
    """One catalog entry (litellm fields, possibly none) with the overlay applied."""
    entry = entry or {}
    overlay = OVERLAY.get((provider, model_id), {})
    embedding = entry.get("mode") == "embedding" or overlay.get("embedding_dims") is not None

    context_window = _int_or_none(entry.get("max_input_tokens")) or _int_or_none(
        entry.get("max_tokens")
    )
    max_output = _int_or_none(entry.get("max_output_tokens"))
    input_cost = _per_mtok(entry.get("input_cost_per_token"))
    output_cost = _per_mtok(entry.get("output_cost_per_token"))
    if input_cost is None and output_cost is None and "input_cost_per_mtok" in overlay:
        input_cost = overlay["input_cost_per_mtok"]
        output_cost = overlay["output_cost_per_mtok"]

    def flag(litellm_key: str, overlay_key: str, default: bool) -> bool:
        value = entry.get(litellm_key)
        floor = overlay.get(overlay_key)
        if value is None and floor is None:
            return default
        return bool(value) or bool(floor)

    # Every chat API Mosaic talks to streams; embedding endpoints do not.
    streaming = overlay.get("streaming", not embedding)

    tier = (
        overlay.get("tier")
        or _DEFAULT_TIER.get(provider)
        or tier_for_price(input_cost, output_cost)
    )
    return ModelSpec(
        provider=provider,
        id=model_id,
        display_name=overlay.get("display_name") or model_id,
        tier=tier,
        context_window=context_window or int(overlay.get("context_window") or 0),
        max_output=max_output if max_output is not None else int(overlay.get("max_output") or 0),
        tools=flag("supports_function_calling", "tools", not embedding) and not embedding,
        vision=flag("supports_vision", "vision", False),
        reasoning=flag("supports_reasoning", "reasoning", False),
        streaming=bool(streaming),
        embedding_dims=_int_or_none(entry.get("output_vector_size"))
        or overlay.get("embedding_dims"),
        input_cost_per_mtok=input_cost,
        output_cost_per_mtok=output_cost,
    )


def load_catalog_document(path: Path = CATALOG_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


def build_specs(document: Mapping[str, Any]) -> dict[str, dict[str, ModelSpec]]:
    """Every static spec of a catalog document, by provider and model id (overlay-only rows too)."""
    index: dict[str, dict[str, ModelSpec]] = {}
    models: Mapping[str, Mapping[str, Any]] = document.get("models", {})
    for provider, entries in models.items():
        for model_id, entry in entries.items():
            index.setdefault(provider, {})[model_id] = _to_spec(provider, model_id, entry)
    for provider, model_id in OVERLAY:
        if model_id not in index.get(provider, {}):
            index.setdefault(provider, {})[model_id] = _to_spec(provider, model_id, None)
    return index


@functools.cache
def _static_index() -> dict[str, dict[str, ModelSpec]]:
    # Loaded once per process, on first use, so importing this module costs nothing.
    return build_specs(load_catalog_document())


def catalog_metadata() -> dict[str, Any]:
    """The header of the catalog file: litellm version and date the numbers came from."""
    meta: dict[str, Any] = load_catalog_document().get("_meta", {})
    return meta


# --- dynamic lists -----------------------------------------------------------------------------

# provider -> {model id: spec}. Replaced wholesale by register_dynamic (an atomic assignment), so
# readers never see a half-built list. Per process; the lead may put a shared cache on top.
_dynamic: dict[str, dict[str, ModelSpec]] = {}


def register_dynamic(provider: str, specs: Iterable[ModelSpec]) -> None:
    """Record a provider's freshly fetched model list (replaces the previous one)."""
    _dynamic[provider] = {spec.id: spec for spec in specs}


def dynamic_models(provider: str) -> list[ModelSpec]:
    return list(_dynamic.get(provider, {}).values())


def clear_dynamic(provider: str | None = None) -> None:
    if provider is None:
        _dynamic.clear()
    else:
        _dynamic.pop(provider, None)


# --- public lookups ----------------------------------------------------------------------------


def static_models(provider: str) -> list[ModelSpec]:
    return list(_static_index().get(provider, {}).values())


def all_static_models() -> list[ModelSpec]:
    return [spec for specs in _static_index().values() for spec in specs.values()]


def get_spec(provider: str, model_id: str) -> ModelSpec | None:
    """The spec of one model: a registered dynamic entry first (fresher), then the static catalog.

    For Ollama, a tagged name (``llama3.2:latest``, ``llama3.2:3b``) falls back to the untagged
    catalog entry: tags select a size or quantisation, not different capabilities.
    """
    spec = _dynamic.get(provider, {}).get(model_id) or _static_index().get(provider, {}).get(
        model_id
    )
    if spec is None and provider == "ollama" and ":" in model_id:
        base = _static_index().get(provider, {}).get(model_id.split(":", 1)[0])
        if base is not None:
            spec = dataclasses.replace(base, id=model_id)
    return spec


# --- regenerating the catalog from litellm -----------------------------------------------------


def read_litellm_source(path: Path) -> tuple[dict[str, Any], str]:
    """litellm's model map and version, from a downloaded wheel or from the JSON file itself.

    The version is read from the wheel's dist-info; for a bare JSON file it is "unknown" unless
    the file sits inside an installed litellm whose dist-info is next to it.
    """
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            names = set(wheel.namelist())
            member = next((name for name in _WHEEL_MAP_NAMES if name in names), None)
            if member is None:
                raise ValueError(f"{path} holds no litellm model map")
            data = json.loads(wheel.read(member))
            version = _wheel_version(path, names, wheel)
        return data, version
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    return data, _installed_version_near(path)


def _wheel_version(path: Path, names: set[str], wheel: zipfile.ZipFile) -> str:
    for name in names:
        if name.endswith(".dist-info/METADATA"):
            for line in wheel.read(name).decode("utf-8", "replace").splitlines():
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    match = re.match(r"litellm-([^-]+)-", path.name)
    return match.group(1) if match else "unknown"


def _installed_version_near(path: Path) -> str:
    site = path.resolve().parent.parent
    for metadata in site.glob("litellm-*.dist-info/METADATA"):
        for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def extract_catalog(
    litellm_map: Mapping[str, Any],
    *,
    litellm_version: str,
    generated_on: datetime.date | None = None,
) -> dict[str, Any]:
    """The catalog document: the selected litellm entries, trimmed to the fields Mosaic reads."""
    models: dict[str, dict[str, Any]] = {}
    missing: list[str] = []

    def keep(provider: str, model_id: str, key: str) -> None:
        entry = litellm_map.get(key)
        if not isinstance(entry, Mapping):
            missing.append(key)
            return
        trimmed = {field: entry[field] for field in _KEPT_FIELDS if field in entry}
        models.setdefault(provider, {})[model_id] = {"litellm_key": key, **trimmed}

    for provider, selection in LITELLM_SELECTION.items():
        for model_id, key in selection.items():
            keep(provider, model_id, key)
    for provider, prefix in LITELLM_PREFIXES.items():
        for key in sorted(litellm_map):
            if key.startswith(prefix):
                keep(provider, key.removeprefix(prefix), key)

    return {
        "_meta": {
            "source": "litellm model_prices_and_context_window.json",
            "litellm_version": litellm_version,
            "generated_on": (generated_on or datetime.date.today()).isoformat(),
            "regenerate_with": "manage.py update_model_catalog --from <litellm wheel or JSON>",
            "missing_from_litellm": missing,
        },
        "models": {provider: dict(sorted(entries.items())) for provider, entries in models.items()},
    }
