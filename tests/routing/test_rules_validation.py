"""The rule schema: every kind of mistake is refused with a message that names it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.errors import InvalidInput
from providers import catalog
from routing.classifier import Classification, classify
from routing.rules import (
    compile_conditions,
    describe_conditions,
    validate_action,
    validate_conditions,
    validate_model_ref,
)


@pytest.fixture(autouse=True)
def _static_catalog() -> Iterator[None]:
    """The suggestions below come from the shipped catalog: models another test discovered from
    a (fake) provider's list would join them."""
    catalog.clear_dynamic()
    yield
    catalog.clear_dynamic()


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def route(
    provider: str = "anthropic", model: str = "claude-sonnet-4-6", **extra: Any
) -> dict[str, Any]:
    return {"route_to": {"provider": provider, "model": model, **extra}}


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"all": [cond("mood", "eq", "happy")]}, "conditions.all[0].field: unknown field 'mood'"),
        (
            {"all": [cond("task_type", "like", "coding")]},
            "conditions.all[0].op: unknown operator 'like'",
        ),
        (
            {"all": [cond("task_type", "eq", "cooking")]},
            "unknown task_type 'cooking'; expected one of coding",
        ),
        (
            {"any": [cond("domain", "in", ["backend", "space"])]},
            "conditions.any[0].value: unknown domain 'space'",
        ),
        ({"all": [cond("capabilities", "eq", "vision")]}, "unknown operator 'eq' for capabilities"),
        (
            {"all": [cond("capabilities", "includes", "telepathy")]},
            "unknown capabilities 'telepathy'",
        ),
        ({"all": [cond("complexity", "in", "simple")]}, "'in' takes a list"),
        ({"all": [cond("complexity", "eq", ["simple"])]}, "'eq' takes one value"),
        ({"all": [{"field": "complexity", "op": "eq"}]}, "conditions.all[0].value: missing"),
        ({"all": [{**cond("complexity", "eq", "simple"), "weight": 2}]}, "unknown key 'weight'"),
        ({"every": []}, 'one key, "all" or "any"'),
        ({"any": []}, "an empty 'any' never matches"),
        ({"all": [{"any": [{"all": [cond("domain", "eq", "docs")]}]}]}, "nest one level deep"),
        ([], 'one key, "all" or "any"'),
    ],
)
def test_bad_conditions_are_refused_naming_the_problem(conditions: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_conditions(conditions)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({}, 'expected {"route_to"'),
        (
            {"route_to": {"provider": "anthropic", "model": "claude-sonnet-4-6"}, "x": 1},
            "action: unknown key 'x'",
        ),
        (
            route(provider="acme"),
            "action.route_to.provider: unknown provider 'acme'; expected one of anthropic",
        ),
        (
            route(model="claude-sonet-4-6"),
            "unknown anthropic model 'claude-sonet-4-6'. Did you mean: claude-sonnet-4-6",
        ),
        (
            route(provider="openai", model="claude-sonnet-4-6"),
            "unknown openai model 'claude-sonnet-4-6'",
        ),
        (route(provider="ollama", model="nomic-embed-text"), "embedding model and cannot chat"),
        (
            route(provider="openrouter", model="bad id with spaces"),
            "not a well-formed openrouter model id",
        ),
        (route(model=""), "action.route_to.model: missing"),
        (route(agent="Not A Slug!"), "action.route_to.agent: 'Not A Slug!' is not an agent slug"),
        (route(tool_allowlist="current_time"), "tool_allowlist: expected a list"),
        (route(tool_allowlist=["ok", "rm -rf"]), "tool_allowlist[1]: 'rm -rf' is not a tool name"),
        (
            route(fallbacks=[{"provider": "zai", "model": "glm-9"}]),
            "action.route_to.fallbacks[0].model: unknown zai model 'glm-9'",
        ),
        (
            route(fallbacks=[{"provider": "anthropic", "model": "claude-sonnet-4-6"}]),
            "already in this rule's chain",
        ),
        (route(colour="blue"), "action.route_to: unknown key 'colour'"),
    ],
)
def test_bad_actions_are_refused_naming_the_problem(action: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_action(action)
    assert message in caught.value.message


def test_dynamic_providers_accept_any_well_formed_model_id() -> None:
    action = validate_action(
        route(
            provider="openrouter",
            model="anthropic/claude-3.5-sonnet",
            fallbacks=[{"provider": "ollama", "model": "qwen2.5-coder:7b"}],
        )
    )
    assert action == {
        "route_to": {
            "provider": "openrouter",
            "model": "anthropic/claude-3.5-sonnet",
            "fallbacks": [{"provider": "ollama", "model": "qwen2.5-coder:7b"}],
        }
    }


def test_valid_action_is_normalised_with_fallbacks_present() -> None:
    action = validate_action(
        route(
            agent="coding-agent",
            system_prompt_override="Be brief.",
            tool_allowlist=["current_time"],
        )
    )
    assert action["route_to"]["fallbacks"] == []
    assert action["route_to"]["agent"] == "coding-agent"
    assert action["route_to"]["tool_allowlist"] == ["current_time"]


def test_conditions_match_classifications_as_documented() -> None:
    coding_complex = classify(
        "Design the architecture for a multi-tenant Django SaaS with a migration plan, "
        "background workers, and tests across many services"
    )
    assert (coding_complex.task_type, coding_complex.complexity) == ("coding", "complex")
    rule = validate_conditions(
        {
            "all": [
                cond("task_type", "eq", "coding"),
                {"any": [cond("complexity", "in", ["complex"]), cond("domain", "eq", "docs")]},
                cond("capabilities", "includes", ["reasoning"]),
            ]
        }
    )
    matches = compile_conditions(rule)
    assert matches(coding_complex)
    assert not matches(classify("what time is it"))
    assert compile_conditions(validate_conditions({"all": []}))(classify("hi"))


def test_includes_with_a_list_requires_every_capability() -> None:
    matches = compile_conditions(
        validate_conditions({"all": [cond("capabilities", "includes", ["tools", "vision"])]})
    )

    def with_capabilities(*names: Any) -> Classification:
        return Classification("analysis", "simple", "general", "cheap", frozenset(names))

    assert matches(with_capabilities("tools", "vision"))
    assert not matches(with_capabilities("tools"))


def test_conditions_are_described_for_people() -> None:
    text = describe_conditions(
        {
            "all": [
                cond("task_type", "eq", "conversation"),
                cond("complexity", "in", ["moderate", "complex"]),
            ]
        }
    )
    assert text == "task_type = conversation AND complexity in (moderate, complex)"
    assert describe_conditions({"all": []}) == "always"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("claude-sonnet-4-6", ("anthropic", "claude-sonnet-4-6")),
        ("anthropic:claude-sonnet-4-6", ("anthropic", "claude-sonnet-4-6")),
        ("openrouter:anthropic/claude-3.5-sonnet", ("openrouter", "anthropic/claude-3.5-sonnet")),
        ("anthropic/claude-3.5-sonnet", ("openrouter", "anthropic/claude-3.5-sonnet")),
        ("ollama:llama3.2", ("ollama", "llama3.2")),
        ("llama3.2", ("ollama", "llama3.2")),
        ("ollama:llama3.2:3b", ("ollama", "llama3.2:3b")),
        ("  gpt-5.4 ", ("openai", "gpt-5.4")),
    ],
)
def test_model_references_are_parsed(text: str, expected: tuple[str, str]) -> None:
    assert validate_model_ref(text) == expected


def test_unknown_model_reference_suggests_near_matches() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_model_ref("claude-sonet-4-6")
    assert caught.value.message.startswith(
        "Unknown model 'claude-sonet-4-6'. Did you mean: claude-sonnet-4-6"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Give a model"),
        ("anthropic:", "Give a model after 'anthropic:'"),
        (
            "anthropic:claude-opus",
            "Unknown model 'claude-opus' for anthropic. Did you mean: claude-opus-4-6",
        ),
        ("nomic-embed-text", "embedding model"),
        ("antropic:claude-sonnet-4-6", "Did you mean: claude-sonnet-4-6"),
    ],
)
def test_bad_model_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_model_ref(text)
    assert message in caught.value.message
