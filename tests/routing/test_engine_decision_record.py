"""Storing routing decisions, linked to the message they chose the model for."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation, Message
from providers.registry import PROVIDERS
from routing import engine, selectors, services
from routing.classifier import classify
from routing.models import RoutingRule

pytestmark = pytest.mark.usefixtures("default_rules")


def assistant_message(user: Any) -> Message:
    conversation = Conversation.objects.create(owner=user, title="t")
    return Message.objects.create(conversation=conversation, sequence=1, role="assistant")


def decide(text: str, user: Any, **kwargs: Any) -> engine.RoutingDecision:
    return engine.resolve(
        classify(text), user=user, usable_providers=set(PROVIDERS), health={}, **kwargs
    )


def test_decision_is_stored_with_its_message_and_rule(alice: Any) -> None:
    message = assistant_message(alice)
    decision = decide("what time is it", alice)

    record = services.decision_record(user=alice, decision=decision, message_id=message.pk)

    record.refresh_from_db()
    assert record.message_id == message.pk
    assert record.rule is not None
    assert record.rule.name == "cheap"
    assert (record.provider, record.model) == ("anthropic", "claude-haiku-4-5")
    assert record.classification["task_type"] == "conversation"
    assert record.reason == decision.reason
    assert record.failover is False
    assert record.override is False
    assert list(selectors.decisions_for(user=alice, message_id=message.pk)) == [record]


def test_failover_decision_is_stored_as_a_failover(alice: Any) -> None:
    first = decide("summarize this: a b c d e f g h.", alice, session=engine.NO_SESSION)
    second = first.failover("rate_limit")
    assert second is not None

    record = services.decision_record(user=alice, decision=second)

    assert record.failover is True
    assert record.candidates_skipped[-1] == {
        "provider": "zai",
        "model": "glm-5",
        "reason": "failed (rate_limit)",
    }


def test_a_rule_deleted_after_caching_is_recorded_by_name_only(alice: Any) -> None:
    rule = services.rule_create(
        user=alice,
        name="short-lived",
        conditions={"all": []},
        action={"route_to": {"provider": "openai", "model": "gpt-5.4-nano"}},
    )
    decision = decide("what time is it", alice)
    assert decision.rule_id == rule.pk
    RoutingRule.objects.filter(pk=rule.pk).delete()  # e.g. by another process

    record = services.decision_record(user=alice, decision=decision)

    record.refresh_from_db()
    assert record.rule is None
    assert record.rule_name == "short-lived"


def test_decisions_are_scoped_to_their_user(alice: Any, bob: Any) -> None:
    services.decision_record(user=alice, decision=decide("what time is it", alice))
    assert selectors.decisions_for(user=bob).count() == 0
    assert selectors.decisions_for(user=alice).count() == 1


def test_deleting_the_message_keeps_the_decision(alice: Any) -> None:
    message = assistant_message(alice)
    record = services.decision_record(
        user=alice, decision=decide("what time is it", alice), message_id=message.pk
    )
    message.delete()
    record.refresh_from_db()
    assert record.message_id is None
