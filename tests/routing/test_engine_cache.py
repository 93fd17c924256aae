"""The in-process rule cache: reloaded at once after a local write, and within the check
interval after a write in another process (signalled through the Redis rules version)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache

from providers.registry import PROVIDERS
from routing import cache as route_cache
from routing import engine, services
from routing.classifier import classify
from routing.models import RoutingRule

pytestmark = pytest.mark.usefixtures("default_rules")

WHAT_TIME = "what time is it"


def model_for(user: Any) -> str:
    decision = engine.resolve(
        classify(WHAT_TIME), user=user, usable_providers=set(PROVIDERS), health={}
    )
    return decision.model_ref


def other_process_cache() -> RedisCache:
    """A second cache client on the same Redis, as another daphne or Celery process has."""
    config = settings.CACHES["default"]
    return RedisCache(config["LOCATION"], {"KEY_PREFIX": config.get("KEY_PREFIX", "")})


def test_a_rule_written_in_another_process_is_seen_after_the_version_bump(
    alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(route_cache, "REFRESH_SECONDS", 3600.0)
    assert model_for(alice) == "anthropic:claude-haiku-4-5"

    # Another process changes rule 9 in the database (no local invalidation here)...
    cheap = RoutingRule.objects.get(owner=None, name="cheap")
    cheap.action = {"route_to": {"provider": "zai", "model": "glm-4.7", "fallbacks": []}}
    cheap.save()
    assert model_for(alice) == "anthropic:claude-haiku-4-5"  # still the cached rules

    # ...and bumps the version through its own Redis client.
    other = other_process_cache()
    other.add(route_cache.RULES_VERSION_KEY, 0, timeout=None)
    other.incr(route_cache.RULES_VERSION_KEY)
    assert model_for(alice) == "anthropic:claude-haiku-4-5"  # the check is not due yet

    monkeypatch.setattr(route_cache, "REFRESH_SECONDS", 0.0)
    assert model_for(alice) == "zai:glm-4.7"


def test_the_version_is_checked_at_most_once_per_interval(
    alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(route_cache, "clock", lambda: now[0])
    monkeypatch.setattr(route_cache, "REFRESH_SECONDS", 1.0)
    reads: list[int] = []
    real = route_cache.rules_version

    def counting() -> Any:
        reads.append(1)
        return real()

    monkeypatch.setattr(route_cache, "rules_version", counting)
    for _ in range(5):
        model_for(alice)
    assert len(reads) == 1
    now[0] += 1.5
    model_for(alice)
    assert len(reads) == 2


def test_service_writes_bump_the_shared_version_after_commit(
    alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before = cache.get(route_cache.RULES_VERSION_KEY) or 0
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.rule_create(
            user=alice,
            name="mine",
            conditions={"all": []},
            action={"route_to": {"provider": "openai", "model": "gpt-5.4-nano"}},
        )
    assert len(callbacks) == 1
    assert other_process_cache().get(route_cache.RULES_VERSION_KEY) == before + 1


def test_a_local_write_is_seen_immediately(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(route_cache, "REFRESH_SECONDS", 3600.0)
    assert model_for(alice) == "anthropic:claude-haiku-4-5"
    rule = services.rule_create(
        user=alice,
        name="mine",
        conditions={"all": []},
        action={"route_to": {"provider": "openai", "model": "gpt-5.4-nano"}},
    )
    assert model_for(alice) == "openai:gpt-5.4-nano"
    services.rule_update(user=alice, rule_id=rule.pk, enabled=False)
    assert model_for(alice) == "anthropic:claude-haiku-4-5"
    services.rule_delete(user=alice, rule_id=rule.pk)
    assert model_for(alice) == "anthropic:claude-haiku-4-5"


def test_a_malformed_stored_rule_is_skipped_not_fatal(alice: Any) -> None:
    RoutingRule.objects.create(
        owner=alice, name="broken", priority=1, conditions={"all": "nope"}, action={}
    )
    RoutingRule.objects.create(
        owner=alice,
        name="unknown-field",
        priority=2,
        conditions={"all": [{"field": "mood", "op": "eq", "value": "x"}]},
        action={"route_to": {"provider": "zai", "model": "glm-5"}},
    )
    route_cache.invalidate_local_cache()
    assert model_for(alice) == "anthropic:claude-haiku-4-5"


def test_health_and_credentials_are_read_at_most_once_per_interval(
    alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(route_cache, "clock", lambda: now[0])
    monkeypatch.setattr(route_cache, "REFRESH_SECONDS", 1.0)
    health = {"anthropic": "healthy"}
    calls: list[str] = []

    def fake_health() -> dict[str, str]:
        calls.append("health")
        return dict(health)

    def fake_usable(user: Any) -> set[str]:
        calls.append("usable")
        return set(PROVIDERS)

    monkeypatch.setattr(route_cache, "default_health", fake_health)
    monkeypatch.setattr(route_cache, "default_usable_providers", fake_usable)

    def decide() -> engine.RoutingDecision:
        return engine.resolve(classify(WHAT_TIME), user=alice)

    assert decide().model_ref == "anthropic:claude-haiku-4-5"
    health["anthropic"] = "down"
    assert decide().model_ref == "anthropic:claude-haiku-4-5"  # within the interval
    assert calls == ["usable", "health"]
    now[0] += 1.5
    assert decide().model_ref == "openai:gpt-5.4-nano"
    assert calls == ["usable", "health", "usable", "health"]
