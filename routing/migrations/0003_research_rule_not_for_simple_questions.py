"""The default "research" rule (priority 4, gpt-5.4) no longer takes simple research.

A one-fact question ("What is the capital of France?") is research + simple by the label
definitions (docs/routing.md), and docs/routing.md promises simple questions the cheap tier
(AC-2, M4-013). Restricted to moderate and complex research, rule 4 lets a simple question fall
through to rule 9 'cheap' (Haiku): the classifier gives simple research the cheap cost tier.

Only the seeded condition is changed: a rule an admin has edited since is left as it is. The
data is written out here rather than imported so that this migration stays what it was when it
ran; ``seed`` is idempotent (tests/conftest.py applies it again after a flush).
"""

import logging

from django.db import migrations, transaction

OLD_CONDITIONS = {"all": [{"field": "task_type", "op": "eq", "value": "research"}]}
NEW_CONDITIONS = {
    "all": [
        {"field": "task_type", "op": "eq", "value": "research"},
        {"field": "complexity", "op": "in", "value": ["moderate", "complex"]},
    ]
}
VERSION_KEY = "routing:rules-version"
logger = logging.getLogger("mosaic.routing")


def _bump_rules_version():
    # Running processes cache rules; tell them to reload. Redis may be absent (e.g. sqlmigrate).
    try:
        from django.core.cache import cache

        cache.add(VERSION_KEY, 0, timeout=None)
        cache.incr(VERSION_KEY)
    except Exception:
        logger.warning("could not bump %s", VERSION_KEY, exc_info=True)


def _replace(apps, schema_editor, old, new):
    RoutingRule = apps.get_model("routing", "RoutingRule")
    rule = RoutingRule.objects.filter(owner=None, name="research").first()
    if rule is None or rule.conditions != old:
        if rule is not None and rule.conditions != new:
            logger.info("system rule 'research' was edited; leaving its conditions alone")
        return
    rule.conditions = new
    rule.save(update_fields=["conditions", "updated_at"])
    transaction.on_commit(_bump_rules_version, using=schema_editor.connection.alias)


def seed(apps, schema_editor):
    _replace(apps, schema_editor, OLD_CONDITIONS, NEW_CONDITIONS)


def unseed(apps, schema_editor):
    _replace(apps, schema_editor, NEW_CONDITIONS, OLD_CONDITIONS)


class Migration(migrations.Migration):
    dependencies = [("routing", "0002_default_rules")]
    operations = [migrations.RunPython(seed, unseed)]
