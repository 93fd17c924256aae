from django.contrib import admin
from django.db.models import QuerySet

from accounts import services
from accounts.models import ApiToken, UsageLimit


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["prefix", "user", "name", "created_at", "expires_at", "last_used_at", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = ["token_hash", "prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: object, queryset: QuerySet[ApiToken]) -> None:
        # Through the service: it also closes the chat sockets opened with these tokens.
        services.tokens_revoke_selected(tokens=queryset)

    def has_add_permission(self, request: object) -> bool:
        # A token made here could never be shown to anyone: issue them through the API.
        return False


@admin.register(UsageLimit)
class UsageLimitAdmin(admin.ModelAdmin[UsageLimit]):
    """Staff set chat limits per user, and the default (the row without a user)."""

    list_display = ["__str__", "turns_per_minute", "concurrent_turns", "tokens_per_day"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]
