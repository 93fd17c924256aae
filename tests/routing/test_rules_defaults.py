"""The default system rules seeded by the data migrations: the PRD's table, resolved so that a
simple question lands on the cheap tier (docs/routing.md)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from routing.models import RoutingRule
from routing.rules import describe_conditions, validate_action, validate_conditions

pytestmark = pytest.mark.usefixtures("default_rules")

RESOLVED_TABLE = [
    (1, "coding-complex", "task_type = coding AND complexity = complex",
     ["anthropic:claude-opus-4-6", "anthropic:claude-sonnet-4-6", "openai:gpt-5.4"]),
    (2, "coding-moderate", "task_type = coding AND complexity = moderate",
     ["anthropic:claude-sonnet-4-6", "openai:gpt-5.4", "zai:glm-5"]),
    (3, "coding-simple", "task_type = coding AND complexity = simple",
     ["openai:gpt-5.4", "anthropic:claude-sonnet-4-6", "anthropic:claude-haiku-4-5"]),
    (4, "research", "task_type = research AND complexity in (moderate, complex)",
     ["openai:gpt-5.4", "anthropic:claude-opus-4-6", "anthropic:claude-sonnet-4-6"]),
    (5, "summarization", "task_type = summarization",
     ["zai:glm-5", "anthropic:claude-haiku-4-5", "anthropic:claude-sonnet-4-6"]),
    (6, "analysis-reasoning", "task_type = analysis AND capabilities includes reasoning",
     ["anthropic:claude-opus-4-6", "openai:gpt-5.4", "anthropic:claude-sonnet-4-6"]),
    (7, "conversation", "task_type = conversation AND complexity in (moderate, complex)",
     ["anthropic:claude-sonnet-4-6", "openai:gpt-5.4-mini", "zai:glm-5"]),
    (8, "creative", "task_type = creative",
     ["anthropic:claude-sonnet-4-6", "openai:gpt-5.4", "zai:glm-5"]),
    (9, "cheap", "cost_tier = cheap OR domain = general",
     ["anthropic:claude-haiku-4-5", "openai:gpt-5.4-nano", "zai:glm-4.7"]),
    (10, "fallback", "always",
     ["anthropic:claude-sonnet-4-6", "openai:gpt-5.4", "zai:glm-5"]),
    (99, "offline", "always", ["ollama:llama3.2"]),
]  # fmt: skip


def chain(rule: RoutingRule) -> list[str]:
    route: dict[str, Any] = rule.action["route_to"]
    return [f"{route['provider']}:{route['model']}"] + [
        f"{f['provider']}:{f['model']}" for f in route["fallbacks"]
    ]


def test_seeded_system_rules_are_the_resolved_table() -> None:
    rules = RoutingRule.objects.filter(owner__isnull=True).order_by("priority")
    assert [
        (r.priority, r.name, describe_conditions(r.conditions), chain(r)) for r in rules
    ] == RESOLVED_TABLE
    assert all(r.enabled for r in rules)


def test_seeded_rules_pass_the_current_validation() -> None:
    for rule in RoutingRule.objects.filter(owner__isnull=True):
        assert validate_conditions(rule.conditions) == rule.conditions, rule.name
        assert validate_action(rule.action) == rule.action, rule.name


def test_research_rule_migration_leaves_an_edited_rule_alone() -> None:
    migration = importlib.import_module(
        "routing.migrations.0003_research_rule_not_for_simple_questions"
    )
    rule = RoutingRule.objects.get(owner__isnull=True, name="research")
    edited = {
        "all": [
            {"field": "task_type", "op": "eq", "value": "research"},
            {"field": "domain", "op": "eq", "value": "general"},
        ]
    }
    rule.conditions = edited
    rule.save()
    schema_editor = SimpleNamespace(connection=connection)
    migration.seed(apps, schema_editor)
    migration.unseed(apps, schema_editor)
    rule.refresh_from_db()
    assert rule.conditions == edited


def test_research_rule_migration_reverses_to_the_prd_condition() -> None:
    migration = importlib.import_module(
        "routing.migrations.0003_research_rule_not_for_simple_questions"
    )
    schema_editor = SimpleNamespace(connection=connection)
    migration.unseed(apps, schema_editor)
    rule = RoutingRule.objects.get(owner__isnull=True, name="research")
    assert describe_conditions(rule.conditions) == "task_type = research"
    migration.seed(apps, schema_editor)
    rule.refresh_from_db()
    assert describe_conditions(rule.conditions) == (
        "task_type = research AND complexity in (moderate, complex)"
    )
