from django.contrib import admin

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["prefix", "user", "name", "created_at", "expires_at", "last_used_at", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = ["token_hash", "prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: object, queryset: object) -> None:
        queryset.update(revoked=True)  # type: ignore[attr-defined]

    def has_add_permission(self, request: object) -> bool:
        # A token made here could never be shown to anyone: issue them through the API.
        return False
