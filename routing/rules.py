"""The routing rule language: what a rule's ``conditions`` and ``action`` may say.

One module owns the schema so that the API, the admin form and the data migration agree:
``validate_conditions`` and ``validate_action`` check a rule before it is written (raising
``InvalidInput`` with a message that names the offending part), ``compile_conditions`` turns
stored conditions into a predicate the engine calls on every chat message, and
``validate_model_ref`` parses what a user types after ``/model``.

Conditions::

    {"all": [cond | group, ...]}  or  {"any": [cond | group, ...]}
    group = {"all": [cond, ...]} | {"any": [cond, ...]}          (one level of nesting)
    cond  = {"field": "task_type" | "complexity" | "domain" | "cost_tier",
             "op": "eq" | "in", "value": str | [str, ...]}
          | {"field": "capabilities", "op": "includes", "value": str | [str, ...]}

``{"all": []}`` matches every message (the catch-all of the fallback and offline rules);
``includes`` with a list requires every listed capability.

Action::

    {"route_to": {"provider": str, "model": str, "agent"?: slug,
                  "system_prompt_override"?: str, "tool_allowlist"?: [name, ...],
                  "fallbacks": [{"provider": str, "model": str}, ...]}}

This module reads the model catalog and the provider registry (both plain Python) and nothing
from Django, so it is as cheap to import as the classifier.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from core.errors import InvalidInput
from providers import catalog
from providers.registry import PROVIDERS
from routing.classifier import (
    CAPABILITIES,
    COMPLEXITIES,
    COST_TIERS,
    DOMAINS,
    TASK_TYPES,
    Classification,
)
from routing.decision import Candidate

logger = logging.getLogger("mosaic.routing")

Predicate = Callable[[Classification], bool]

# field -> the values it may take; the classifier's vocabulary is the single source of truth.
SCALAR_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "task_type": TASK_TYPES,
    "complexity": COMPLEXITIES,
    "domain": DOMAINS,
    "cost_tier": COST_TIERS,
}
SET_FIELDS: Final[dict[str, tuple[str, ...]]] = {"capabilities": CAPABILITIES}
FIELDS: Final[tuple[str, ...]] = (*SCALAR_FIELDS, *SET_FIELDS)
SCALAR_OPS: Final[tuple[str, ...]] = ("eq", "in")
SET_OPS: Final[tuple[str, ...]] = ("includes",)
GROUP_KEYS: Final[tuple[str, ...]] = ("all", "any")

# Providers whose model lists are fetched at run time (OpenRouter's /models, Ollama's /api/tags):
# a rule may name a model that is not listed yet, as long as the id is well formed.
DYNAMIC_PROVIDERS: Final[frozenset[str]] = frozenset({"openrouter", "ollama"})
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,199}")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,64}")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

MAX_CONDITIONS = 20
MAX_FALLBACKS = 5
MAX_TOOLS = 50
MAX_SYSTEM_PROMPT_CHARS = 20_000

_ROUTE_TO_KEYS = (
    "provider",
    "model",
    "agent",
    "system_prompt_override",
    "tool_allowlist",
    "fallbacks",
)


def _choices(values: Sequence[str]) -> str:
    return ", ".join(values)


def _unknown_keys(data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    extra = [key for key in data if key not in allowed]
    if extra:
        raise InvalidInput(f"{where}: unknown key {extra[0]!r}; allowed keys: {_choices(allowed)}.")


# --- conditions --------------------------------------------------------------------------------


def validate_conditions(data: object) -> dict[str, Any]:
    """Check a rule's conditions and return them normalised (lists de-duplicated, in order)."""
    return _validate_group(data, "conditions", depth=0)


def _validate_group(data: object, where: str, *, depth: int) -> dict[str, Any]:
    if not isinstance(data, Mapping) or len(data) != 1 or next(iter(data)) not in GROUP_KEYS:
        raise InvalidInput(
            f'{where}: expected an object with one key, "all" or "any", holding a list of '
            'conditions (use {"all": []} to match every message).'
        )
    kind, items = next(iter(data.items()))
    if not isinstance(items, list):
        raise InvalidInput(f"{where}.{kind}: expected a list of conditions.")
    if kind == "any" and not items:
        raise InvalidInput(
            f"{where}.any: an empty 'any' never matches; give at least one condition."
        )
    if len(items) > MAX_CONDITIONS:
        raise InvalidInput(f"{where}.{kind}: at most {MAX_CONDITIONS} conditions.")
    normalised: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        item_where = f"{where}.{kind}[{index}]"
        if isinstance(item, Mapping) and "field" not in item and set(item) & set(GROUP_KEYS):
            if depth >= 1:
                raise InvalidInput(f"{item_where}: groups nest one level deep at most.")
            normalised.append(_validate_group(item, item_where, depth=depth + 1))
        else:
            normalised.append(_validate_condition(item, item_where))
    return {kind: normalised}


def _validate_condition(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput(f'{where}: expected a condition {{"field": …, "op": …, "value": …}}.')
    _unknown_keys(data, ("field", "op", "value"), where)
    field = data.get("field")
    if field not in FIELDS:
        raise InvalidInput(
            f"{where}.field: unknown field {field!r}; expected one of {_choices(FIELDS)}."
        )
    op = data.get("op")
    if "value" not in data:
        raise InvalidInput(f"{where}.value: missing.")
    value = data["value"]
    if field in SET_FIELDS:
        allowed = SET_FIELDS[field]
        if op not in SET_OPS:
            raise InvalidInput(
                f"{where}.op: unknown operator {op!r} for {field}; expected one of {_choices(SET_OPS)}."
            )
        values = _validate_values(field, value, allowed, f"{where}.value", many_ok=True)
        return {"field": field, "op": op, "value": values[0] if len(values) == 1 else values}
    allowed = SCALAR_FIELDS[str(field)]
    if op not in SCALAR_OPS:
        raise InvalidInput(
            f"{where}.op: unknown operator {op!r} for {field}; expected one of {_choices(SCALAR_OPS)}."
        )
    if op == "eq":
        if not isinstance(value, str):
            raise InvalidInput(f"{where}.value: 'eq' takes one value, not {type(value).__name__}.")
        _validate_values(str(field), value, allowed, f"{where}.value", many_ok=False)
        return {"field": field, "op": op, "value": value}
    if not isinstance(value, list):
        raise InvalidInput(f"{where}.value: 'in' takes a list of values.")
    return {
        "field": field,
        "op": op,
        "value": _validate_values(str(field), value, allowed, f"{where}.value", many_ok=True),
    }


def _validate_values(
    field: str, value: object, allowed: Sequence[str], where: str, *, many_ok: bool
) -> list[str]:
    values = value if isinstance(value, list) and many_ok else [value]
    if not values:
        raise InvalidInput(f"{where}: give at least one value.")
    out: list[str] = []
    for item in values:
        if item not in allowed:
            raise InvalidInput(
                f"{where}: unknown {field} {item!r}; expected one of {_choices(allowed)}."
            )
        if item not in out:
            out.append(str(item))
    return out


def compile_conditions(conditions: Mapping[str, Any]) -> Predicate:
    """A predicate over classifications for (validated) conditions; cheap to call."""
    kind, items = next(iter(conditions.items()))
    parts = tuple(
        compile_conditions(item) if "field" not in item else _compile_condition(item)
        for item in items
    )
    if not parts:
        return _always
    if len(parts) == 1:
        return parts[0]
    if kind == "all":
        return lambda c: all(part(c) for part in parts)
    return lambda c: any(part(c) for part in parts)


def _always(_: Classification) -> bool:
    return True


def _compile_condition(cond: Mapping[str, Any]) -> Predicate:
    field: str = cond["field"]
    op: str = cond["op"]
    value = cond["value"]
    if op == "includes":
        required = frozenset([value] if isinstance(value, str) else value)
        return lambda c: required <= c.capabilities
    if op == "eq":
        return lambda c: getattr(c, field) == value
    accepted = frozenset(value)
    return lambda c: getattr(c, field) in accepted


def is_catch_all(conditions: Mapping[str, Any]) -> bool:
    """True for ``{"all": []}``: the rule matches every message."""
    return conditions.get("all") == [] and len(conditions) == 1


def describe_conditions(conditions: Mapping[str, Any]) -> str:
    """Human-readable conditions, e.g. "task_type = coding AND complexity in (simple, moderate)"."""
    if not isinstance(conditions, Mapping) or len(conditions) != 1:
        return "?"
    kind, items = next(iter(conditions.items()))
    if not items:
        return "always" if kind == "all" else "never"
    joiner = " AND " if kind == "all" else " OR "
    texts = []
    for item in items:
        if isinstance(item, Mapping) and "field" not in item:
            texts.append(f"({describe_conditions(item)})")
        elif isinstance(item, Mapping):
            value = item.get("value")
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            if item.get("op") == "eq":
                texts.append(f"{item.get('field')} = {shown}")
            elif item.get("op") == "in":
                texts.append(f"{item.get('field')} in ({shown})")
            else:
                texts.append(f"{item.get('field')} includes {shown}")
    return joiner.join(texts)


# --- action ------------------------------------------------------------------------------------


def validate_action(data: object) -> dict[str, Any]:
    """Check a rule's action and return it normalised (``fallbacks`` always present)."""
    if not isinstance(data, Mapping) or "route_to" not in data:
        raise InvalidInput('action: expected {"route_to": {"provider": …, "model": …, …}}.')
    _unknown_keys(data, ("route_to",), "action")
    route = data["route_to"]
    where = "action.route_to"
    if not isinstance(route, Mapping):
        raise InvalidInput(f"{where}: expected an object with provider and model.")
    _unknown_keys(route, _ROUTE_TO_KEYS, where)
    provider, model = validate_model(route.get("provider"), route.get("model"), where)
    out: dict[str, Any] = {"provider": provider, "model": model}

    agent = route.get("agent")
    if agent not in (None, ""):
        if not isinstance(agent, str) or not _SLUG.fullmatch(agent):
            raise InvalidInput(
                f"{where}.agent: {agent!r} is not an agent slug (letters, digits, - and _)."
            )
        out["agent"] = agent

    prompt = route.get("system_prompt_override")
    if prompt not in (None, ""):
        if not isinstance(prompt, str):
            raise InvalidInput(f"{where}.system_prompt_override: expected text.")
        if len(prompt) > MAX_SYSTEM_PROMPT_CHARS:
            raise InvalidInput(
                f"{where}.system_prompt_override: at most {MAX_SYSTEM_PROMPT_CHARS} characters."
            )
        out["system_prompt_override"] = prompt

    tools = route.get("tool_allowlist")
    if tools is not None:
        if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
            raise InvalidInput(
                f"{where}.tool_allowlist: expected a list of at most {MAX_TOOLS} tool names."
            )
        for index, name in enumerate(tools):
            if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
                raise InvalidInput(f"{where}.tool_allowlist[{index}]: {name!r} is not a tool name.")
        out["tool_allowlist"] = list(dict.fromkeys(tools))

    fallbacks = route.get("fallbacks", [])
    if fallbacks is None:
        fallbacks = []
    if not isinstance(fallbacks, list):
        raise InvalidInput(f"{where}.fallbacks: expected a list of {{provider, model}} objects.")
    if len(fallbacks) > MAX_FALLBACKS:
        raise InvalidInput(f"{where}.fallbacks: at most {MAX_FALLBACKS} fallbacks.")
    seen = {f"{provider}:{model}"}
    out_fallbacks: list[dict[str, str]] = []
    for index, fallback in enumerate(fallbacks):
        fwhere = f"{where}.fallbacks[{index}]"
        if not isinstance(fallback, Mapping):
            raise InvalidInput(f"{fwhere}: expected {{provider, model}}.")
        _unknown_keys(fallback, ("provider", "model"), fwhere)
        fprovider, fmodel = validate_model(fallback.get("provider"), fallback.get("model"), fwhere)
        if f"{fprovider}:{fmodel}" in seen:
            raise InvalidInput(f"{fwhere}: {fprovider}:{fmodel} is already in this rule's chain.")
        seen.add(f"{fprovider}:{fmodel}")
        out_fallbacks.append({"provider": fprovider, "model": fmodel})
    out["fallbacks"] = out_fallbacks
    return {"route_to": out}


def validate_model(provider: object, model: object, where: str) -> tuple[str, str]:
    """Check that ``model`` is a chat model ``provider`` serves; returns the pair."""
    if provider not in PROVIDERS:
        raise InvalidInput(
            f"{where}.provider: unknown provider {provider!r}; expected one of {_choices(PROVIDERS)}."
        )
    assert isinstance(provider, str)
    if not isinstance(model, str) or not model:
        raise InvalidInput(f"{where}.model: missing.")
    _check_model(provider, model, where=f"{where}.model")
    return provider, model


def _check_model(provider: str, model: str, *, where: str) -> None:
    spec = catalog.get_spec(provider, model)
    if spec is not None:
        if spec.embedding_dims is not None:
            raise InvalidInput(f"{where}: {model!r} is an embedding model and cannot chat.")
        return
    if provider in DYNAMIC_PROVIDERS:
        if not _MODEL_ID.fullmatch(model):
            raise InvalidInput(f"{where}: {model!r} is not a well-formed {provider} model id.")
        return
    known = [s.id for s in _chat_models(provider)]
    raise InvalidInput(f"{where}: unknown {provider} model {model!r}.{_did_you_mean(model, known)}")


def _chat_models(provider: str) -> list[Any]:
    specs = {s.id: s for s in catalog.static_models(provider)}
    specs.update({s.id: s for s in catalog.dynamic_models(provider)})
    return [s for s in specs.values() if s.embedding_dims is None]


def _did_you_mean(text: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(text, candidates, n=3, cutoff=0.6)
    if close:
        return " Did you mean: " + ", ".join(close) + "?"
    if candidates and len(candidates) <= 12:
        return " Known models: " + ", ".join(sorted(candidates)) + "."
    return ""


# --- /model references -------------------------------------------------------------------------


def validate_model_ref(text: str) -> tuple[str, str]:
    """Parse what follows ``/model``: ``claude-sonnet-4-6``, ``anthropic:claude-sonnet-4-6``,
    ``openrouter:anthropic/claude-3.5-sonnet`` or ``ollama:llama3.2``; returns (provider, model).

    A bare id is looked up in the catalog across providers (in registry order, so the first
    provider that lists it wins). Unknown ids raise ``InvalidInput`` with the nearest matches.
    """
    ref = (text or "").strip()
    if not ref:
        raise InvalidInput("Give a model, e.g. claude-sonnet-4-6 or ollama:llama3.2.")
    head, sep, rest = ref.partition(":")
    if sep and head in PROVIDERS:
        if not rest:
            raise InvalidInput(f"Give a model after '{head}:', e.g. {_example(head)}.")
        spec = catalog.get_spec(head, rest)
        if spec is not None and spec.embedding_dims is not None:
            raise InvalidInput(f"{rest!r} is an embedding model and cannot chat.")
        if spec is not None or (head in DYNAMIC_PROVIDERS and _MODEL_ID.fullmatch(rest)):
            return head, rest
        known = [s.id for s in _chat_models(head)]
        raise InvalidInput(f"Unknown model '{rest}' for {head}.{_did_you_mean(rest, known)}")
    for provider in PROVIDERS:
        spec = catalog.get_spec(provider, ref)
        if spec is not None:
            if spec.embedding_dims is not None:
                raise InvalidInput(f"{ref!r} is an embedding model and cannot chat.")
            return provider, ref
    if "/" in ref and _MODEL_ID.fullmatch(ref):
        # "anthropic/claude-3.5-sonnet" is OpenRouter's spelling; only OpenRouter uses slashes.
        return "openrouter", ref
    bare = list(dict.fromkeys(s.id for p in PROVIDERS for s in _chat_models(p)))
    close = difflib.get_close_matches(ref, bare, n=3, cutoff=0.6)
    if not close:  # perhaps a misspelt provider prefix: "antropic:claude-sonnet-4-6"
        qualified = [f"{p}:{s.id}" for p in PROVIDERS for s in _chat_models(p)]
        close = difflib.get_close_matches(ref, qualified, n=3, cutoff=0.6)
    hint = (
        f" Did you mean: {', '.join(close)}?"
        if close
        else " Use provider:model, e.g. anthropic:claude-sonnet-4-6."
    )
    raise InvalidInput(f"Unknown model '{ref}'.{hint}")


def _example(provider: str) -> str:
    models = _chat_models(provider)
    return f"{provider}:{models[0].id}" if models else f"{provider}:<model>"


# --- parsed rules: what the engine matches messages against ---------------------------------------

# The seeded rule 99. The engine falls back to it when nothing else is usable, and to the
# built-in OFFLINE_PROVIDER:OFFLINE_MODEL when an admin has disabled or renamed it.
OFFLINE_RULE_NAME = "offline"
OFFLINE_PROVIDER = "ollama"
OFFLINE_MODEL = "llama3.2"


@dataclass(frozen=True, slots=True)
class ParsedRule:
    id: int
    name: str
    priority: int
    is_system: bool
    matches: Predicate
    catch_all: bool
    candidates: tuple[Candidate, ...]

    @property
    def is_offline(self) -> bool:
        return self.is_system and self.name == OFFLINE_RULE_NAME


def rule_label(name: str, priority: int, *, is_system: bool) -> str:
    return f"{'rule' if is_system else 'your rule'} {priority} '{name}'"


def parse_rule(row: Mapping[str, Any]) -> ParsedRule:
    """A stored rule (``id, name, priority, owner_id, conditions, action``) in engine form."""
    is_system = row["owner_id"] is None
    label = rule_label(row["name"], row["priority"], is_system=is_system)
    route = row["action"]["route_to"]
    tools = route.get("tool_allowlist")
    common: dict[str, Any] = {
        "rule": row["name"],
        "rule_id": row["id"],
        "rule_label": label,
        "agent": route.get("agent") or None,
        "system_prompt_override": route.get("system_prompt_override") or None,
        "tool_allowlist": tuple(tools) if tools is not None else None,
        "offline": is_system and row["name"] == OFFLINE_RULE_NAME,
    }
    chain = [(route["provider"], route["model"])]
    chain += [(f["provider"], f["model"]) for f in route.get("fallbacks") or ()]
    candidates = tuple(
        Candidate(provider, model, note=f"fallback {i}" if i else "", **common)
        for i, (provider, model) in enumerate(chain)
    )
    # Checked again here (once per load) so that a row written around the services cannot make
    # a predicate that raises on every message.
    conditions = validate_conditions(row["conditions"])
    return ParsedRule(
        id=row["id"],
        name=row["name"],
        priority=row["priority"],
        is_system=is_system,
        matches=compile_conditions(conditions),
        catch_all=is_catch_all(conditions),
        candidates=candidates,
    )


def parse_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[ParsedRule, ...]:
    parsed = []
    for row in rows:
        try:
            parsed.append(parse_rule(row))
        except Exception:  # a row written around the services: skip it, never break routing
            logger.warning(
                "routing rule %s (%r) is malformed; skipped",
                row.get("id"),
                row.get("name"),
                exc_info=True,
            )
    return tuple(parsed)
