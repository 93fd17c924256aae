"""The routing engine against the seeded default rules, with real classifications."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from providers.registry import PROVIDERS
from routing import cache as route_cache
from routing import engine, services
from routing.classifier import Classification, classify
from routing.engine import AgentProfile, RoutingDecision, SessionRouting, Skipped

pytestmark = pytest.mark.usefixtures("default_rules")

ALL = frozenset(PROVIDERS)
CODING_COMPLEX = (
    "Write a Python function that parses a CSV file, handles quoting, and add unit tests; "
    "refactor the module into a package with a clean API"
)
SUMMARIZE = "summarize this: The quick brown fox jumped over the lazy dog many times."
WHAT_TIME = "what time is it"
CODING_SIMPLE = "How do I reverse a list in Python?"
CODING_AGENT = AgentProfile(
    slug="coding-agent",
    domains=("frontend", "backend", "devops"),
    preferred_models=("anthropic:claude-opus-4-6", "anthropic:claude-sonnet-4-6"),
    default_model="anthropic:claude-sonnet-4-6",
)


def route(
    text: str | Classification,
    user: Any,
    *,
    session: SessionRouting = engine.NO_SESSION,
    usable: frozenset[str] | set[str] = ALL,
    health: Mapping[str, str] | None = None,
) -> RoutingDecision:
    classification = classify(text) if isinstance(text, str) else text
    return engine.resolve(
        classification, user=user, session=session, usable_providers=usable, health=health or {}
    )


def test_a_coding_question_reaches_claude_opus(alice: Any) -> None:
    decision = route(CODING_COMPLEX, alice, health={"anthropic": "healthy"})

    # The route line leads with the classification's summary, which may add who decided and
    # how sure it was ("coding + complex (task by rules, complexity by statistical, …)").
    summary = decision.classification.summary()
    assert summary.startswith("coding + complex")
    assert decision.model_ref == "anthropic:claude-opus-4-6"
    assert decision.rule == "coding-complex"
    assert decision.reason == (
        f"{summary} matched rule 1 'coding-complex' → claude-opus-4-6; anthropic healthy"
    )
    assert [c.ref for c in decision.fallbacks] == [
        "anthropic:claude-sonnet-4-6",
        "openai:gpt-5.4",
        "zai:glm-5",  # from the fallback rule, after rule 1's chain
        "ollama:llama3.2",  # the offline rule, last
    ]


def test_summarize_reaches_glm_5(alice: Any) -> None:
    decision = route(SUMMARIZE, alice)
    assert decision.classification.task_type == "summarization"
    assert (decision.model_ref, decision.rule) == ("zai:glm-5", "summarization")


def test_what_time_is_it_reaches_the_cheap_tier(alice: Any) -> None:
    decision = route(WHAT_TIME, alice)
    assert decision.classification.summary() == "conversation + simple"
    assert (decision.model_ref, decision.rule) == ("anthropic:claude-haiku-4-5", "cheap")


def test_moderate_conversation_still_reaches_sonnet(alice: Any) -> None:
    chat = Classification("conversation", "moderate", "general", "standard")
    assert route(chat, alice).model_ref == "anthropic:claude-sonnet-4-6"


def test_session_override_wins_over_every_rule(alice: Any) -> None:
    decision = route(
        CODING_COMPLEX,
        alice,
        session=SessionRouting(model_override="zai:glm-5"),
        health={"zai": "healthy"},
    )
    assert decision.model_ref == "zai:glm-5"
    assert decision.override is True
    assert decision.fallbacks == ()
    assert decision.reason == "/model override → glm-5; zai healthy"


def test_override_is_tried_even_when_its_provider_is_down(alice: Any) -> None:
    decision = route(
        WHAT_TIME,
        alice,
        session=SessionRouting(model_override="anthropic:claude-opus-4-6"),
        health={"anthropic": "down"},
    )
    assert decision.model_ref == "anthropic:claude-opus-4-6"
    assert decision.override is True


def test_override_without_a_credential_is_skipped_and_said(alice: Any) -> None:
    decision = route(
        WHAT_TIME,
        alice,
        session=SessionRouting(model_override="openai:gpt-5.4"),
        usable=ALL - {"openai"},
    )
    assert decision.override is False
    assert decision.model_ref == "anthropic:claude-haiku-4-5"
    assert decision.candidates_skipped[0] == Skipped(
        "openai", "gpt-5.4", "override: no usable credential for openai"
    )
    assert decision.reason.startswith(
        "/model gpt-5.4 skipped (no usable credential for openai); conversation + simple matched"
    )


def test_unhealthy_primary_falls_back_along_the_chain(alice: Any) -> None:
    decision = route(CODING_COMPLEX, alice, health={"anthropic": "down", "openai": "healthy"})

    assert decision.model_ref == "openai:gpt-5.4"
    assert decision.rule == "coding-complex"
    assert decision.candidates_skipped == (
        Skipped("anthropic", "claude-opus-4-6", "anthropic down"),
        Skipped("anthropic", "claude-sonnet-4-6", "anthropic down"),
    )
    assert decision.reason == (
        f"{decision.classification.summary()} matched rule 1 'coding-complex'; skipped "
        "claude-opus-4-6 (anthropic down), claude-sonnet-4-6 (anthropic down) → gpt-5.4 "
        "(fallback 2); openai healthy"
    )
    # Down providers are not offered as fallbacks either.
    assert all(c.provider != "anthropic" for c in decision.fallbacks)


def test_missing_credential_skips_the_candidate(alice: Any) -> None:
    decision = route(SUMMARIZE, alice, usable=ALL - {"zai"})
    assert decision.model_ref == "anthropic:claude-haiku-4-5"
    assert decision.candidates_skipped == (Skipped("zai", "glm-5", "no usable credential for zai"),)
    assert "skipped glm-5 (no usable credential for zai) → claude-haiku-4-5 (fallback 1)" in (
        decision.reason
    )


def test_degraded_provider_is_used_and_noted(alice: Any) -> None:
    decision = route(SUMMARIZE, alice, health={"zai": "degraded"})
    assert decision.model_ref == "zai:glm-5"
    assert decision.reason.endswith("→ glm-5; zai degraded")


def test_never_probed_provider_counts_as_available(alice: Any) -> None:
    decision = route(SUMMARIZE, alice, health={"zai": "unknown"})
    assert decision.model_ref == "zai:glm-5"
    assert decision.reason.endswith("zai not yet probed")


def test_exhausted_chain_continues_with_the_next_matching_rule(alice: Any) -> None:
    decision = route(SUMMARIZE, alice, usable={"openai", "ollama"})
    # Rule 5's chain (glm-5, haiku, sonnet) is unusable; rule 9 'cheap' matches domain=general.
    assert decision.model_ref == "openai:gpt-5.4-nano"
    assert decision.rule == "cheap"
    assert "via rule 9 'cheap' (fallback 1)" in decision.reason


def test_only_ollama_usable_reaches_the_offline_rule(alice: Any) -> None:
    decision = route(CODING_COMPLEX, alice, usable={"ollama"}, health={"ollama": "healthy"})
    assert decision.model_ref == "ollama:llama3.2"
    assert decision.rule == "offline"
    assert "via rule 99 'offline'" in decision.reason


def test_a_configured_ollama_that_is_down_is_still_tried_when_nothing_else_is_usable(
    alice: Any,
) -> None:
    decision = route(WHAT_TIME, alice, usable={"ollama"}, health={"ollama": "down"})
    assert decision.model_ref == "ollama:llama3.2"
    assert decision.rule == "offline"
    assert decision.usable is True
    assert decision.fallbacks == ()
    assert "nothing else was available" in decision.reason
    assert "claude-haiku-4-5: no usable credential for anthropic" in decision.reason
    assert decision.reason.endswith("ollama down, trying it anyway")


def test_nothing_usable_at_all_is_a_decision_that_says_so_and_is_not_called(alice: Any) -> None:
    """No credential anywhere and an Ollama nobody configured: the reason starts with what is
    wrong, and the decision is marked unusable so that the gateway calls no one."""
    decision = route(WHAT_TIME, alice, usable=set(), health={"anthropic": "down"})
    assert decision.usable is False
    assert decision.to_dict()["usable"] is False
    assert decision.fallbacks == ()
    assert decision.reason.startswith("no provider you can use is available for")
    assert "claude-haiku-4-5: no usable credential for anthropic" in decision.reason


def test_disabled_offline_rule_leaves_the_builtin_offline_model(alice: Any) -> None:
    from routing.models import RoutingRule

    RoutingRule.objects.filter(owner=None, name="offline").update(enabled=False)
    route_cache.invalidate_local_cache()
    decision = route(WHAT_TIME, alice, usable={"ollama"}, health={"ollama": "down"})
    assert decision.model_ref == "ollama:llama3.2"
    assert decision.rule is None
    assert "built-in offline fallback" in decision.reason


def test_a_users_rule_changes_routing_for_that_user_only(alice: Any, bob: Any) -> None:
    services.rule_create(
        user=alice,
        name="chat-on-mini",
        conditions={"all": [{"field": "task_type", "op": "eq", "value": "conversation"}]},
        action={"route_to": {"provider": "openai", "model": "gpt-5.4-mini"}},
    )
    mine = route(WHAT_TIME, alice)
    assert mine.model_ref == "openai:gpt-5.4-mini"
    assert mine.reason.startswith("conversation + simple matched your rule 1 'chat-on-mini'")
    assert route(WHAT_TIME, bob).model_ref == "anthropic:claude-haiku-4-5"


def test_agent_preferred_model_wins_in_its_domains(alice: Any) -> None:
    decision = route(
        CODING_SIMPLE,
        alice,
        session=SessionRouting(agent=CODING_AGENT),
        health={"anthropic": "healthy"},
    )
    assert decision.classification.domain == "backend"
    assert decision.model_ref == "anthropic:claude-opus-4-6"
    assert decision.rule == "coding-simple"
    assert decision.reason == (
        "coding + simple matched rule 3 'coding-simple' → claude-opus-4-6 "
        "(coding-agent prefers it for backend); anthropic healthy"
    )
    # The rule's own model is still a fallback.
    assert "openai:gpt-5.4" in [c.ref for c in decision.fallbacks]


def test_agent_preferences_do_not_apply_outside_its_domains(alice: Any) -> None:
    decision = route(WHAT_TIME, alice, session=SessionRouting(agent=CODING_AGENT))
    assert decision.model_ref == "anthropic:claude-haiku-4-5"


def test_unusable_agent_preference_falls_to_the_next_one(alice: Any) -> None:
    agent = AgentProfile("coding-agent", ("backend",), ("zai:glm-5.1", "anthropic:claude-opus-4-6"))
    decision = route(
        CODING_SIMPLE, alice, session=SessionRouting(agent=agent), usable=ALL - {"zai"}
    )
    assert decision.model_ref == "anthropic:claude-opus-4-6"


def test_agent_default_model_replaces_the_catch_all(alice: Any) -> None:
    unmatched = Classification("analysis", "moderate", "backend", "standard")
    writer = AgentProfile("writer", domains=("docs",), default_model="zai:glm-5.1")
    decision = route(unmatched, alice, session=SessionRouting(agent=writer))
    assert decision.rule == "fallback"
    assert decision.model_ref == "zai:glm-5.1"
    assert "(writer's default model)" in decision.reason


def test_a_users_rule_wins_over_the_agents_preference(alice: Any) -> None:
    services.rule_create(
        user=alice,
        name="coding-on-glm",
        conditions={"all": [{"field": "task_type", "op": "eq", "value": "coding"}]},
        action={"route_to": {"provider": "zai", "model": "glm-5"}},
    )
    decision = route(CODING_SIMPLE, alice, session=SessionRouting(agent=CODING_AGENT))
    assert decision.model_ref == "zai:glm-5"


def test_rule_action_settings_reach_the_decision(alice: Any) -> None:
    services.rule_create(
        user=alice,
        name="docs-writer",
        conditions={"all": [{"field": "task_type", "op": "eq", "value": "conversation"}]},
        action={
            "route_to": {
                "provider": "anthropic",
                "model": "claude-haiku-4-5",
                "agent": "general",
                "system_prompt_override": "Answer in one sentence.",
                "tool_allowlist": ["current_time"],
            }
        },
    )
    decision = route(WHAT_TIME, alice)
    assert decision.agent == "general"
    assert decision.system_prompt_override == "Answer in one sentence."
    assert decision.tool_allowlist == ("current_time",)


def test_failover_moves_to_the_next_fallback_and_says_why(alice: Any) -> None:
    first = route(CODING_COMPLEX, alice)
    second = first.failover("overloaded")

    assert second is not None
    assert second.model_ref == "anthropic:claude-sonnet-4-6"
    assert second.failed_over is True
    assert second.reason == (
        "anthropic failed (overloaded) → fell back to claude-sonnet-4-6 "
        "(fallback 1 of rule 1 'coding-complex')"
    )
    assert (
        Skipped("anthropic", "claude-opus-4-6", "failed (overloaded)") in second.candidates_skipped
    )
    assert [c.ref for c in second.fallbacks] == ["openai:gpt-5.4", "zai:glm-5", "ollama:llama3.2"]


def test_failover_can_avoid_the_failed_provider(alice: Any) -> None:
    nxt = route(CODING_COMPLEX, alice).failover("unavailable", avoid_provider=True)
    assert nxt is not None
    assert nxt.model_ref == "openai:gpt-5.4"


def test_failover_returns_none_when_nothing_is_left(alice: Any) -> None:
    decision: RoutingDecision | None = route(WHAT_TIME, alice, usable={"ollama"})
    assert decision is not None
    assert decision.failover("timeout") is None


def test_decision_is_json_serialisable(alice: Any) -> None:
    data = route(CODING_COMPLEX, alice, health={"anthropic": "down"}).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["classification"]["task_type"] == "coding"
    assert data["candidates_skipped"][0] == {
        "provider": "anthropic",
        "model": "claude-opus-4-6",
        "reason": "anthropic down",
    }
    assert data["fallbacks"][0] == {"provider": "zai", "model": "glm-5", "rule": "fallback"}


def test_every_decision_is_logged_with_its_classification(
    alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="mosaic.routing"):
        route(SUMMARIZE, alice)
    lines = [r.getMessage() for r in caplog.records if r.name == "mosaic.routing"]
    assert len(lines) == 1
    assert f"route user={alice.pk} summarization + simple → zai:glm-5" in lines[0]
    assert '"task_type":"summarization"' in lines[0]


def test_resolve_reads_no_database_once_rules_are_cached(
    alice: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(2):  # system rules, alice's rules
        route(WHAT_TIME, alice)
    with django_assert_num_queries(0):
        route(CODING_COMPLEX, alice)


def test_resolve_never_raises(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from routing import selectors

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("database gone")

    monkeypatch.setattr(selectors, "system_rules_for_routing", broken)
    decision = route(WHAT_TIME, alice)
    assert decision.model_ref == "ollama:llama3.2"
    assert "routing failed internally" in decision.reason


def test_default_lookups_read_credentials_and_health(alice: Any, settings: Any) -> None:
    settings.ZAI_API_KEY = "zai-test-key"
    decision = engine.resolve(classify(SUMMARIZE), user=alice)
    assert decision.model_ref == "zai:glm-5"
    assert decision.reason.endswith("zai not yet probed")


async def test_aresolve_decides_in_the_event_loop_when_everything_is_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.contrib.auth.models import AnonymousUser

    from core.db import in_database_thread as real_in_database_thread

    monkeypatch.setattr(route_cache, "REFRESH_SECONDS", 3600.0)
    hops: list[object] = []

    async def counting_in_database_thread(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real_in_database_thread(func, *args, **kwargs)

    monkeypatch.setattr(engine, "in_database_thread", counting_in_database_thread)
    # The first call has to load the rules, which happens in a thread (with its own database
    # connection, so it sees the committed, migration-seeded rules).
    first = await engine.aresolve(classify(WHAT_TIME), user=AnonymousUser(), health={})  # type: ignore[arg-type]
    assert len(hops) == 1
    second = await engine.aresolve(classify(WHAT_TIME), user=AnonymousUser(), health={})  # type: ignore[arg-type]
    assert len(hops) == 1  # decided in the event loop: no thread, no I/O
    assert second.model_ref == first.model_ref
