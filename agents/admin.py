"""Admin pages: staff manage the system agents (no owner) here, and can inspect sessions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from agents import services
from agents.models import AgentConfig, Session
from core.errors import InvalidInput


class AgentConfigForm(forms.ModelForm[AgentConfig]):
    """Validated by the same rules as the API and ``/agent new`` (``services.agent_validate``)."""

    class Meta:
        model = AgentConfig
        fields = [
            "owner", "slug", "name", "description", "system_prompt", "default_provider",
            "default_model", "tool_allowlist", "skills", "capabilities",
        ]  # fmt: skip
        help_texts = {
            "owner": "Empty for a system agent, which every user can pick.",
            "tool_allowlist": 'JSON list of tool names, e.g. ["calculator", "current_time"].',
            "skills": "JSON list of free-form skill labels.",
            "capabilities": (
                'JSON: {"domains": ["backend", ...], "preferred_models": ["anthropic:claude-opus-4-6", ...]}. '
                "Routing prefers these models for messages in these domains."
            ),
            "default_model": "A model id or provider:model; blank lets routing decide.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        data = {name: cleaned.get(name) for name in services.AGENT_FIELDS if name in cleaned}
        if set(data) != set(services.AGENT_FIELDS):
            return cleaned  # a field failed its own validation already
        try:
            cleaned.update(services.agent_validate(data=data))
        except InvalidInput as exc:
            field = exc.message.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
            self.add_error(field if field in self.fields else None, exc.message)
        return cleaned


class ScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("system", "System agents"), ("user", "Users' agents")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[AgentConfig]
    ) -> QuerySet[AgentConfig]:
        if self.value() == "system":
            return queryset.filter(owner__isnull=True)
        if self.value() == "user":
            return queryset.filter(owner__isnull=False)
        return queryset


@admin.register(AgentConfig)
class AgentConfigAdmin(admin.ModelAdmin[AgentConfig]):
    form = AgentConfigForm
    list_display = ["slug", "name", "is_system", "owner", "default_model", "tools", "updated_at"]
    list_filter = [ScopeFilter, "default_provider"]
    list_select_related = ["owner"]
    search_fields = ["slug", "name", "owner__username"]
    raw_id_fields = ["owner"]
    ordering = ["owner_id", "slug"]

    @admin.display(boolean=True, description="system")
    def is_system(self, agent: AgentConfig) -> bool:
        return agent.is_system

    @admin.display(description="tools")
    def tools(self, agent: AgentConfig) -> str:
        return ", ".join(agent.tool_allowlist or [])


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin[Session]):
    list_display = [
        "id",
        "user",
        "agent_slug",
        "last_model",
        "turns",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "model_switches",
        "agent_switches",
        "started_at",
        "ended_at",
        "duration",
    ]
    list_filter = ["agent_slug", "last_provider"]
    list_select_related = ["user"]
    search_fields = ["user__username", "id"]
    readonly_fields = [f.name for f in Session._meta.fields]
    date_hierarchy = "started_at"

    @admin.display(description="duration (s)")
    def duration(self, session: Session) -> str:
        seconds = session.duration_seconds
        return "—" if seconds is None else f"{seconds:.0f}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
