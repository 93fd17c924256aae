"""Seed the default system routing rules: the PRD's table, resolved as docs/routing.md explains.

The PRD puts ``taskType=conversation`` (priority 7, Sonnet) ahead of the cheap rule (priority 9,
Haiku), which would send "what time is it" to Sonnet although AC-2 and M4-013 want a simple
question on the cheap tier. Rule 7 is therefore restricted to moderate and complex
conversation; simple conversation falls through to rule 9 (Haiku). The data is written out here
rather than imported so that this migration stays what it was when it ran.
"""

import logging

from django.db import migrations, transaction

ANTHROPIC_OPUS = ("anthropic", "claude-opus-4-6")
ANTHROPIC_SONNET = ("anthropic", "claude-sonnet-4-6")
ANTHROPIC_HAIKU = ("anthropic", "claude-haiku-4-5")
OPENAI_GPT = ("openai", "gpt-5.4")
OPENAI_MINI = ("openai", "gpt-5.4-mini")
OPENAI_NANO = ("openai", "gpt-5.4-nano")
ZAI_GLM5 = ("zai", "glm-5")
ZAI_GLM47 = ("zai", "glm-4.7")
OLLAMA_LLAMA = ("ollama", "llama3.2")


def eq(field, value):
    return {"field": field, "op": "eq", "value": value}


def route(primary, *fallbacks):
    return {
        "route_to": {
            "provider": primary[0],
            "model": primary[1],
            "fallbacks": [{"provider": p, "model": m} for p, m in fallbacks],
        }
    }


DEFAULT_RULES = [
    (1, "coding-complex", {"all": [eq("task_type", "coding"), eq("complexity", "complex")]},
     route(ANTHROPIC_OPUS, ANTHROPIC_SONNET, OPENAI_GPT)),
    (2, "coding-moderate", {"all": [eq("task_type", "coding"), eq("complexity", "moderate")]},
     route(ANTHROPIC_SONNET, OPENAI_GPT, ZAI_GLM5)),
    (3, "coding-simple", {"all": [eq("task_type", "coding"), eq("complexity", "simple")]},
     route(OPENAI_GPT, ANTHROPIC_SONNET, ANTHROPIC_HAIKU)),
    (4, "research", {"all": [eq("task_type", "research")]},
     route(OPENAI_GPT, ANTHROPIC_OPUS, ANTHROPIC_SONNET)),
    (5, "summarization", {"all": [eq("task_type", "summarization")]},
     route(ZAI_GLM5, ANTHROPIC_HAIKU, ANTHROPIC_SONNET)),
    (6, "analysis-reasoning",
     {"all": [eq("task_type", "analysis"), {"field": "capabilities", "op": "includes", "value": "reasoning"}]},
     route(ANTHROPIC_OPUS, OPENAI_GPT, ANTHROPIC_SONNET)),
    (7, "conversation",
     {"all": [eq("task_type", "conversation"), {"field": "complexity", "op": "in", "value": ["moderate", "complex"]}]},
     route(ANTHROPIC_SONNET, OPENAI_MINI, ZAI_GLM5)),
    (8, "creative", {"all": [eq("task_type", "creative")]},
     route(ANTHROPIC_SONNET, OPENAI_GPT, ZAI_GLM5)),
    (9, "cheap", {"any": [eq("cost_tier", "cheap"), eq("domain", "general")]},
     route(ANTHROPIC_HAIKU, OPENAI_NANO, ZAI_GLM47)),
    (10, "fallback", {"all": []},
     route(ANTHROPIC_SONNET, OPENAI_GPT, ZAI_GLM5)),
    (99, "offline", {"all": []},
     route(OLLAMA_LLAMA)),
]  # fmt: skip

VERSION_KEY = "routing:rules-version"


def _bump_rules_version():
    # Running processes cache rules; tell them to reload. Redis may be absent (e.g. sqlmigrate).
    try:
        from django.core.cache import cache

        cache.add(VERSION_KEY, 0, timeout=None)
        cache.incr(VERSION_KEY)
    except Exception:
        logging.getLogger("mosaic.routing").warning("could not bump %s", VERSION_KEY, exc_info=True)


def seed(apps, schema_editor):
    RoutingRule = apps.get_model("routing", "RoutingRule")
    for priority, name, conditions, action in DEFAULT_RULES:
        RoutingRule.objects.update_or_create(
            owner=None,
            name=name,
            defaults={
                "priority": priority,
                "conditions": conditions,
                "action": action,
                "enabled": True,
            },
        )
    transaction.on_commit(_bump_rules_version, using=schema_editor.connection.alias)


def unseed(apps, schema_editor):
    RoutingRule = apps.get_model("routing", "RoutingRule")
    RoutingRule.objects.filter(owner=None, name__in=[r[1] for r in DEFAULT_RULES]).delete()
    transaction.on_commit(_bump_rules_version, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
