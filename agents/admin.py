"""Admin pages: staff manage the system agents (no owner) here, and can inspect sessions."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from agents import selectors, services
from agents.models import AgentConfig, Session
from core.errors import InvalidInput, MosaicError
from routing import services as routing_services
from routing.decision import RoutingDecision
from routing.models import RoutingRule


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

    def get_urls(self) -> list[URLPattern]:
        explain = path(
            "explain-routing/",
            self.admin_site.admin_view(self.explain_view),
            name="agents_routing_explain",
        )
        return [explain, *super().get_urls()]

    def explain_view(self, request: HttpRequest) -> HttpResponse:
        """Type a message, see its classification and the decision a user would get (linked from
        the routing rules list; here because it reads the agent's declared capabilities)."""
        if not request.user.has_perm("routing.view_routingrule"):
            raise PermissionDenied
        form = ExplainForm(request.POST or None)
        decision = None
        if request.method == "POST" and form.is_valid():
            user: Any = request.user
            if form.cleaned_data["as_user"]:
                user = (
                    get_user_model().objects.filter(username=form.cleaned_data["as_user"]).first()
                )
                if user is None:
                    form.add_error("as_user", "No such user.")
            if not form.errors:
                try:
                    decision = _explain(user, form.cleaned_data)
                except MosaicError as exc:
                    form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "opts": RoutingRule._meta,
            "title": "Explain routing",
            "form": form,
            "decision": decision,
            "classification_json": json.dumps(decision.classification.to_dict(), indent=2)
            if decision
            else "",
            "decision_json": json.dumps(decision.to_dict(), indent=2) if decision else "",
        }
        return TemplateResponse(request, "admin/agents/explain_routing.html", context)


class ExplainForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}))
    model_override = forms.CharField(
        required=False,
        help_text="As after /model, e.g. claude-sonnet-4-6 (empty: routing decides).",
    )
    agent = forms.CharField(required=False, help_text="Agent slug, e.g. coding-agent.")
    as_user = forms.CharField(
        required=False, label="As user", help_text="Username whose own rules apply (empty: you)."
    )


def _explain(user: Any, data: dict[str, Any]) -> RoutingDecision:
    profile = None
    if data["agent"]:
        profile = selectors.agent_routing_profile(
            selectors.agent_get(user=user, slug=data["agent"])
        )
    return routing_services.decision_explain(
        user=user, text=data["text"], model_override=data["model_override"], agent=profile
    )


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
