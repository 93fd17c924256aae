"""Admin for routing rules (validated by the same schema as the API) and the decision log.

The "Explain a message" box needs agents' declared capabilities, so it lives in
``agents/admin.py``; the rules list links to it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from core.errors import InvalidInput
from routing import services
from routing.models import RoutingDecisionRecord, RoutingRule
from routing.rules import describe_conditions, validate_action, validate_conditions


class RoutingRuleAdminForm(forms.ModelForm[RoutingRule]):
    class Meta:
        model = RoutingRule
        fields = ["name", "priority", "enabled", "owner", "conditions", "action"]

    def clean_conditions(self) -> Any:
        try:
            return validate_conditions(self.cleaned_data.get("conditions"))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_action(self) -> Any:
        try:
            return validate_action(self.cleaned_data.get("action"))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("system", "System rules"), ("user", "Users' rules")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "system":
            return queryset.filter(owner__isnull=True)
        if self.value() == "user":
            return queryset.filter(owner__isnull=False)
        return queryset


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin[RoutingRule]):
    form = RoutingRuleAdminForm
    list_display = ("name", "priority", "enabled", "scope", "conditions_summary", "route")
    list_display_links = ("name",)
    list_editable = ("priority", "enabled")
    list_filter = (ScopeFilter, "enabled")
    search_fields = ("name", "owner__username")
    # PostgreSQL sorts NULLs last: users' rules grouped by owner, then the system rules.
    ordering = ("owner", "priority", "id")
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="scope")
    def scope(self, rule: RoutingRule) -> str:
        return "system" if rule.owner is None else rule.owner.get_username()

    @admin.display(description="conditions")
    def conditions_summary(self, rule: RoutingRule) -> str:
        return describe_conditions(rule.conditions)

    @admin.display(description="route to")
    def route(self, rule: RoutingRule) -> str:
        """The model, then each fallback, one per line: a model id is never cut in two."""
        route = rule.action.get("route_to", {}) if isinstance(rule.action, dict) else {}
        chain = [f"{route.get('provider')}:{route.get('model')}"]
        chain += [f"→ {f.get('provider')}:{f.get('model')}" for f in route.get("fallbacks", [])]
        return format_html_join(
            mark_safe("<br>"),
            '<span style="white-space: nowrap">{}</span>',
            ((step,) for step in chain),
        )

    def save_model(self, request: HttpRequest, obj: RoutingRule, form: Any, change: bool) -> None:
        services.rule_admin_save(rule=obj)

    def delete_model(self, request: HttpRequest, obj: RoutingRule) -> None:
        services.rule_admin_delete(rules=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RoutingRule]) -> None:
        services.rule_admin_delete(rules=list(queryset))


@admin.register(RoutingDecisionRecord)
class RoutingDecisionRecordAdmin(admin.ModelAdmin[RoutingDecisionRecord]):
    list_display = ("created_at", "user", "provider", "model", "rule_name", "override", "failover")
    list_filter = ("provider", "override", "failover")
    search_fields = ("user__username", "model", "rule_name", "reason")
    raw_id_fields = ("user", "message", "rule")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
