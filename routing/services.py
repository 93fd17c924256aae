"""Writes to routing rules and decisions, and the explain helper.

Every rule write validates through ``routing.rules``, clears this process's rule cache at once
and bumps the Redis rules version after commit so that every other process reloads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from core.db import in_database_thread
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.sql import Insert, Statement
from routing import cache as route_cache
from routing import engine, selectors
from routing.classifier import ClassifierContext, classify
from routing.decision import AgentProfile, RoutingDecision, SessionRouting
from routing.models import RoutingDecisionRecord, RoutingRule
from routing.rules import validate_action, validate_conditions, validate_model_ref

if TYPE_CHECKING:
    from collections.abc import Mapping

    from django.contrib.auth.models import User

__all__ = [
    "adecision_record",
    "decision_explain",
    "decision_record",
    "rule_admin_delete",
    "rule_admin_save",
    "rule_create",
    "rule_delete",
    "rule_update",
    "rules_reorder",
    "validate_model_ref",
]

MAX_PRIORITY = 1_000_000
MAX_NAME = 100


def _is_staff(user: User) -> bool:
    return bool(getattr(user, "is_staff", False))


def _rules_changed() -> None:
    route_cache.invalidate_local_cache()
    # After commit: a process that reloads on the new version must see the new rows.
    transaction.on_commit(route_cache.bump_rules_version)


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name: give the rule a name.")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise InvalidInput(f"name: at most {MAX_NAME} characters.")
    return name


def _clean_priority(priority: object) -> int:
    if (
        not isinstance(priority, int)
        or isinstance(priority, bool)
        or not 1 <= priority <= MAX_PRIORITY
    ):
        raise InvalidInput(f"priority: expected a whole number from 1 to {MAX_PRIORITY}.")
    return priority


def _check_may_edit(user: User, rule: RoutingRule) -> None:
    if rule.is_system and not _is_staff(user):
        raise PermissionDenied("Only staff can change system rules.")


def _save(rule: RoutingRule) -> RoutingRule:
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise Conflict(f"A rule named {rule.name!r} already exists.") from None
    _rules_changed()
    return rule


def rule_create(
    *,
    user: User,
    name: str,
    conditions: Any,
    action: Any,
    priority: int | None = None,
    enabled: bool = True,
    system: bool = False,
) -> RoutingRule:
    """A new rule of the user's own, or (staff only) a system rule."""
    if system and not _is_staff(user):
        raise PermissionDenied("Only staff can create system rules.")
    owner_id = None if system else selectors.user_key(user)
    name = _clean_name(name)
    if priority is None:
        top = RoutingRule.objects.filter(owner_id=owner_id).aggregate(top=Max("priority"))["top"]
        priority = (top or 0) + 1
    rule = RoutingRule(
        owner_id=owner_id,
        name=name,
        priority=_clean_priority(priority),
        conditions=validate_conditions(conditions),
        action=validate_action(action),
        enabled=enabled,
    )
    return _save(rule)


def rule_update(
    *,
    user: User,
    rule_id: int,
    name: str | None = None,
    priority: int | None = None,
    conditions: Any = None,
    action: Any = None,
    enabled: bool | None = None,
) -> RoutingRule:
    """Change some fields of a rule the user may edit (None leaves a field as it is)."""
    rule = selectors.rule_get(user=user, rule_id=rule_id)
    _check_may_edit(user, rule)
    if name is not None:
        rule.name = _clean_name(name)
    if priority is not None:
        rule.priority = _clean_priority(priority)
    if conditions is not None:
        rule.conditions = validate_conditions(conditions)
    if action is not None:
        rule.action = validate_action(action)
    if enabled is not None:
        rule.enabled = enabled
    return _save(rule)


def rule_delete(*, user: User, rule_id: int) -> None:
    rule = selectors.rule_get(user=user, rule_id=rule_id)
    _check_may_edit(user, rule)
    rule.delete()
    _rules_changed()


@transaction.atomic
def rules_reorder(*, user: User, order: Sequence[int]) -> list[RoutingRule]:
    """Give the listed rules priorities 1..n in that order, in one transaction.

    The list holds either the user's own rules or (staff only) system rules, not both. Rules of
    the same scope that are not listed keep their relative order after the listed ones: each
    keeps its priority unless that would not come after the one before it.
    """
    if not order:
        raise InvalidInput("order: give the rule ids in the order you want them.")
    if len(set(order)) != len(order):
        raise InvalidInput("order: a rule id appears twice.")
    visible = Q(owner_id=selectors.user_key(user)) | Q(owner__isnull=True)
    found = {r.pk: r for r in RoutingRule.objects.select_for_update().filter(visible, pk__in=order)}
    for rule_id in order:
        if rule_id not in found:
            raise NotFound(f"Routing rule {rule_id} not found.")
    scopes = {rule.is_system for rule in found.values()}
    if len(scopes) > 1:
        raise InvalidInput("order: reorder your own rules and system rules separately.")
    system = scopes.pop()
    if system and not _is_staff(user):
        raise PermissionDenied("Only staff can reorder system rules.")
    owner_id = None if system else selectors.user_key(user)

    changed: list[RoutingRule] = []
    for position, rule_id in enumerate(order, start=1):
        rule = found[rule_id]
        if rule.priority != position:
            rule.priority = position
            changed.append(rule)
    last = len(order)
    others = (
        RoutingRule.objects.select_for_update()
        .filter(owner_id=owner_id)
        .exclude(pk__in=order)
        .order_by("priority", "id")
    )
    for rule in others:
        new = max(rule.priority, last + 1)
        if new != rule.priority:
            rule.priority = new
            changed.append(rule)
        last = new
    RoutingRule.objects.bulk_update(changed, ["priority", "updated_at"])
    _rules_changed()
    return list(RoutingRule.objects.filter(owner_id=owner_id).order_by("priority", "id"))


def rule_admin_save(*, rule: RoutingRule) -> RoutingRule:
    """Save a rule edited in the Django admin (the form has validated it; normalise again)."""
    rule.name = _clean_name(rule.name)
    rule.conditions = validate_conditions(rule.conditions)
    rule.action = validate_action(rule.action)
    return _save(rule)


def rule_admin_delete(*, rules: Iterable[RoutingRule]) -> None:
    for rule in rules:
        rule.delete()
    _rules_changed()


# --- decisions ---------------------------------------------------------------------------------


# Written out (core/sql.py): every turn stores one. The rule may have been deleted since the
# engine cached it: it is linked only if it still exists, in the same INSERT (a dangling id would
# fail the deferred foreign-key check at commit).
_INSERT_DECISION = Insert(
    RoutingDecisionRecord,
    expressions={
        "rule": f"(SELECT id FROM {RoutingRule._meta.db_table} WHERE id = %s)"  # noqa: S608
    },
)


def decision_record(
    *,
    user: User,
    decision: RoutingDecision,
    message_id: uuid.UUID | str | None = None,
    failover: bool | None = None,
) -> RoutingDecisionRecord:
    """Store a decision, linked to the assistant message it chose the model for.

    ``failover`` defaults to whether the decision came from ``RoutingDecision.failover()``.
    """
    (stored,) = _INSERT_DECISION.save([_decision_row(user, decision, message_id, failover)])
    return stored


def decision_statement(
    *,
    user: User,
    decision: RoutingDecision,
    message_id: uuid.UUID | str | None = None,
    failover: bool | None = None,
) -> Statement:
    """``decision_record``'s INSERT, to run with other writes (``core.sql.run_together``)."""
    return _INSERT_DECISION.bind([_decision_row(user, decision, message_id, failover)])


def _decision_row(
    user: User,
    decision: RoutingDecision,
    message_id: uuid.UUID | str | None,
    failover: bool | None,
) -> RoutingDecisionRecord:
    return RoutingDecisionRecord(
        user_id=selectors.user_key(user),
        message_id=message_id,
        rule_id=decision.rule_id,
        rule_name=decision.rule or "",
        provider=decision.provider,
        model=decision.model,
        agent_slug=decision.agent or "",
        reason=decision.reason,
        classification=decision.classification.to_dict(),
        candidates_skipped=[s._asdict() for s in decision.candidates_skipped],
        fallbacks=[c.to_dict() for c in decision.fallbacks],
        failover=decision.failed_over if failover is None else failover,
        override=decision.override,
    )


async def adecision_record(
    *,
    user: User,
    decision: RoutingDecision,
    message_id: uuid.UUID | str | None = None,
    failover: bool | None = None,
) -> RoutingDecisionRecord:
    return await in_database_thread(
        decision_record, user=user, decision=decision, message_id=message_id, failover=failover
    )


def decision_explain(
    *,
    user: User,
    text: str,
    model_override: str = "",
    agent: AgentProfile | None = None,
    context: ClassifierContext | None = None,
    usable_providers: set[str] | None = None,
    health: Mapping[str, str] | None = None,
) -> RoutingDecision:
    """The classification and decision ``user`` would get for ``text``; no model is called.

    ``agent`` is the routing view of the session's agent: the caller (the agents app, which
    owns agents) looks it up; routing never reads another app's tables.
    """
    override = ""
    if model_override:
        provider, model = validate_model_ref(model_override)
        override = f"{provider}:{model}"
    return engine.resolve(
        classify(text, context),
        user=user,
        session=SessionRouting(model_override=override, agent=agent),
        usable_providers=usable_providers,
        health=health,
        log=False,
    )
