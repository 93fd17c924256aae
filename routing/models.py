"""Routing rules and the record of every routing decision."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RoutingRule(models.Model):
    """One rule: when a message's classification matches ``conditions``, route by ``action``.

    ``owner`` is null for system rules (managed by staff, apply to everyone); a user's own rules
    apply to that user only and are tried before every system rule. Lower ``priority`` is tried
    first. The JSON shapes are defined and validated in ``routing/rules.py``.
    """

    name = models.CharField(max_length=100)
    priority = models.PositiveIntegerField(default=100, help_text="Lower numbers are tried first.")
    conditions = models.JSONField(
        default=dict,
        help_text='e.g. {"all": [{"field": "task_type", "op": "eq", "value": "coding"}]}',
    )
    action = models.JSONField(
        default=dict, help_text='{"route_to": {"provider": …, "model": …, "fallbacks": [...]}}'
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_rules",
        help_text="Empty for a system rule that applies to every user.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "routing_rules"
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=Q(owner__isnull=False),
                name="routing_rule_unique_owner_name",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(owner__isnull=True),
                name="routing_rule_unique_system_name",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "enabled", "priority"], name="routing_rule_owner_prio")
        ]

    def __str__(self) -> str:
        return f"{self.priority} {self.name}"

    @property
    def is_system(self) -> bool:
        return self.owner_id is None


class RoutingDecisionRecord(models.Model):
    """A routing decision as it was made: which model answered which message, and why.

    The rule is kept by reference (null once deleted) and by name (for the record).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="routing_decisions"
    )
    message = models.ForeignKey(
        "conversations.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="routing_decisions",
    )
    rule = models.ForeignKey(
        RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    rule_name = models.CharField(max_length=100, blank=True)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    agent_slug = models.CharField(max_length=64, blank=True)
    reason = models.TextField()
    classification = models.JSONField(default=dict)
    candidates_skipped = models.JSONField(default=list, blank=True)
    fallbacks = models.JSONField(default=list, blank=True)
    failover = models.BooleanField(default=False)
    override = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "routing_decisions"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="routing_decision_user_recent")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.model} ({self.rule_name or 'no rule'})"
