"""Reads of routing rules and decisions, always scoped by the acting user."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db.models import F, Q, QuerySet

from core.errors import NotFound
from routing.models import RoutingDecisionRecord, RoutingRule

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# What the engine reads of a rule; everything else stays in the database.
_ENGINE_FIELDS = ("id", "name", "priority", "owner_id", "conditions", "action")


def user_key(user: User) -> int:
    """The user's primary key; 0, which matches nobody, should an unsaved or anonymous user
    ever get this far."""
    return int(user.pk) if user.pk is not None else 0


def rules_visible(*, user: User) -> QuerySet[RoutingRule]:
    """The user's own rules, then the system rules, each by priority."""
    return RoutingRule.objects.filter(Q(owner_id=user_key(user)) | Q(owner__isnull=True)).order_by(
        # Own rules first (the one non-null owner), as the engine tries them.
        F("owner").asc(nulls_last=True),
        "priority",
        "id",
    )


def rule_get(*, user: User, rule_id: int) -> RoutingRule:
    """One of the user's rules or a system rule; another user's rule is NotFound."""
    rule = RoutingRule.objects.filter(
        Q(owner_id=user_key(user)) | Q(owner__isnull=True), pk=rule_id
    ).first()
    if rule is None:
        raise NotFound(f"Routing rule {rule_id} not found.")
    return rule


def system_rules_for_routing() -> list[dict[str, Any]]:
    """Enabled system rules by priority, as the engine parses them."""
    return list(
        RoutingRule.objects.filter(owner__isnull=True, enabled=True)
        .order_by("priority", "id")
        .values(*_ENGINE_FIELDS)
    )


def user_rules_for_routing(*, user_id: Any) -> list[dict[str, Any]]:
    """The user's enabled rules by priority, as the engine parses them."""
    return list(
        RoutingRule.objects.filter(owner_id=user_id, enabled=True)
        .order_by("priority", "id")
        .values(*_ENGINE_FIELDS)
    )


def decisions_for(
    *, user: User, message_id: uuid.UUID | str | None = None
) -> QuerySet[RoutingDecisionRecord]:
    records = RoutingDecisionRecord.objects.filter(user_id=user_key(user))
    if message_id is not None:
        records = records.filter(message_id=message_id)
    return records
