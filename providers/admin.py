"""Admin pages: credentials (secrets write-only, shown masked) and provider health (read-only).

A credential without an owner is system-wide: every user may use it when they have none of
their own. Admins add those here; users add theirs through the API or `mosaic providers add`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.auth import acting_user
from providers import health, selectors, services
from providers.models import CredentialKind, ProviderCredential, ProviderHealth


class CredentialForm(forms.ModelForm[ProviderCredential]):
    new_api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored key.",
    )

    class Meta:
        model = ProviderCredential
        fields = ["owner", "provider", "label", "base_url", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        provider = cleaned.get("provider")
        adding = self.instance._state.adding
        if (
            adding
            and not cleaned.get("new_api_key")
            and provider not in selectors.KEYLESS_PROVIDERS
        ):
            self.add_error("new_api_key", f"An API key is required for {provider}.")
        return cleaned


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin[ProviderCredential]):
    form = CredentialForm
    list_display = [
        "provider",
        "whose",
        "label",
        "kind",
        "masked_secret",
        "is_active",
        "expires_at",
        "last_used_at",
        "short_error",
    ]
    list_filter = ["provider", "kind", "is_active", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["owner__username", "label", "provider"]
    readonly_fields = [
        "kind",
        "masked_secret",
        "scopes",
        "expires_at",
        "created_at",
        "updated_at",
        "last_used_at",
        "last_error",
    ]
    actions = ["deactivate"]
    list_select_related = ["owner"]

    def get_fieldsets(self, request: HttpRequest, obj: ProviderCredential | None = None) -> Any:
        return [
            (None, {"fields": ["owner", "provider", "label", "base_url", "is_active"]}),
            ("Secret", {"fields": ["new_api_key", "kind", "masked_secret"]}),
            (
                "Status",
                {
                    "fields": [
                        "scopes",
                        "expires_at",
                        "created_at",
                        "updated_at",
                        "last_used_at",
                        "last_error",
                    ]
                },
            ),
        ]

    @admin.display(description="owner", ordering="owner__username")
    def whose(self, obj: ProviderCredential) -> str:
        return obj.owner.get_username() if obj.owner else "system-wide"

    @admin.display(description="secret")
    def masked_secret(self, obj: ProviderCredential) -> str:
        if obj.pk is None:
            return ""
        if obj.kind == CredentialKind.OAUTH:
            return f"OAuth token {selectors.mask_secret(obj.access_token)}"
        return selectors.mask_secret(obj.api_key) or "(none)"

    @admin.display(description="last error")
    def short_error(self, obj: ProviderCredential) -> str:
        return obj.last_error[:80]

    # Every write goes through the service, which clears the cached credential answers once
    # the admin's transaction commits (never before: a reader could cache the old rows again).

    def save_model(
        self, request: HttpRequest, obj: ProviderCredential, form: Any, change: bool
    ) -> None:
        services.credential_admin_save(
            user=acting_user(request),
            credential=obj,
            new_api_key=form.cleaned_data.get("new_api_key", ""),
        )

    def delete_model(self, request: HttpRequest, obj: ProviderCredential) -> None:
        services.credential_admin_save(user=acting_user(request), credential=obj, delete=True)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        for credential in queryset:
            services.credential_admin_save(
                user=acting_user(request), credential=credential, delete=True
            )

    @admin.action(description="Deactivate the selected credentials")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        count = 0
        for credential in queryset.filter(is_active=True):
            credential.is_active = False
            services.credential_admin_save(user=acting_user(request), credential=credential)
            count += 1
        self.message_user(request, f"Deactivated {count} credential(s).")


@admin.register(ProviderHealth)
class ProviderHealthAdmin(admin.ModelAdmin[ProviderHealth]):
    list_display = [
        "provider",
        "status",
        "latency",
        "checked_at",
        "consecutive_failures",
        "last_error",
    ]
    list_filter = ["status"]
    fields = readonly_fields = (
        "provider",
        "status",
        "latency",
        "last_error",
        "checked_at",
        "consecutive_failures",
    )
    actions = ["probe_now"]

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: ProviderHealth) -> str:
        return "-" if obj.latency_ms is None else f"{obj.latency_ms:.0f} ms"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows are written by the probe

    def has_change_permission(
        self, request: HttpRequest, obj: ProviderHealth | None = None
    ) -> bool:
        return False

    @admin.action(description="Probe every provider now (takes up to 10 s)")
    def probe_now(self, request: HttpRequest, queryset: QuerySet[ProviderHealth]) -> None:
        results = health.probe_all()
        summary = ", ".join(f"{name}: {status.status}" for name, status in sorted(results.items()))
        self.message_user(request, f"Probed {summary or 'nothing'}.", messages.INFO)
