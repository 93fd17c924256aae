from django.contrib import admin

from agents.models import AgentConfig, Session


@admin.register(AgentConfig)
class AgentConfigAdmin(admin.ModelAdmin[AgentConfig]):
    list_display = ["slug", "name", "owner", "default_provider", "default_model", "updated_at"]
    list_filter = ["default_provider"]
    search_fields = ["slug", "name", "owner__username"]


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
        "started_at",
        "ended_at",
    ]
    list_filter = ["agent_slug", "last_provider"]
    search_fields = ["user__username", "id"]
    readonly_fields = [f.name for f in Session._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
