"""Admin pages for staff: every user's insights, preferences and switches, and the embedding
space. Saves go through the same services as the API, so an edited insight is embedded again
and a new one merges with a near-duplicate of the same user's; the vector itself is never shown
or edited by hand."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.errors import MosaicError
from memory import services
from memory.models import EmbeddingSpace, Insight, MemorySettings, Preference


class InsightForm(forms.ModelForm[Insight]):
    class Meta:
        model = Insight
        fields = ["user", "content", "category", "importance", "tier"]

    def clean_content(self) -> str:
        try:
            return services.clean_content(self.cleaned_data.get("content"))
        except MosaicError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_importance(self) -> float:
        try:
            return services.clean_importance(self.cleaned_data.get("importance"))
        except MosaicError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(Insight)
class InsightAdmin(admin.ModelAdmin[Insight]):
    form = InsightForm
    list_display = ["id", "user", "excerpt", "category", "tier", "importance", "use_count", "source", "created_at"]  # fmt: skip
    list_filter = ["category", "tier", "source"]
    search_fields = ["content", "user__username"]
    list_select_related = ["user"]
    readonly_fields = [
        "source", "source_conversation", "source_message", "created_at", "updated_at",
        "last_used_at", "use_count",
    ]  # fmt: skip
    raw_id_fields = ["user"]
    fields = ["user", "content", "category", "importance", "tier", *readonly_fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Insight]:
        return super().get_queryset(request).defer("embedding")

    @admin.display(description="content")
    def excerpt(self, obj: Insight) -> str:
        return obj.content if len(obj.content) <= 80 else obj.content[:79] + "…"

    def get_readonly_fields(self, request: HttpRequest, obj: Insight | None = None) -> list[str]:
        # The owner of an existing insight never changes.
        return [*self.readonly_fields, "user"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: Insight, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                services.insight_update(
                    user=obj.user,
                    insight_id=obj.pk,
                    content=data["content"],
                    category=data["category"],
                    importance=data["importance"],
                    tier=data["tier"],
                )
            else:
                saved = services.insight_save(
                    user=data["user"],
                    content=data["content"],
                    category=data["category"],
                    importance=data["importance"],
                )
                obj.pk = saved.insight.pk
                if not saved.created:
                    self.message_user(
                        request,
                        f"A near-duplicate existed (similarity {saved.similarity:.2f}): it was "
                        "updated instead of adding a second insight.",
                        messages.WARNING,
                    )
        except MosaicError as exc:
            # Validation happened in the form; what is left is the embedder being unavailable.
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)
            raise


class PreferenceForm(forms.ModelForm[Preference]):
    class Meta:
        model = Preference
        fields = ["user", "key", "value"]

    def clean_key(self) -> str:
        try:
            return services.clean_key(self.cleaned_data.get("key"))
        except MosaicError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_value(self) -> str:
        try:
            return services.clean_value(self.cleaned_data.get("value"))
        except MosaicError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin[Preference]):
    form = PreferenceForm
    list_display = ["user", "key", "value", "source", "updated_at"]
    list_filter = ["source"]
    search_fields = ["key", "value", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["source", "created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: Preference, form: Any, change: bool) -> None:
        if change and "key" in form.changed_data:
            Preference.objects.filter(pk=obj.pk).delete()
        saved, _ = services.preference_set(user=obj.user, key=obj.key, value=obj.value)
        obj.pk = saved.pk


@admin.register(MemorySettings)
class MemorySettingsAdmin(admin.ModelAdmin[MemorySettings]):
    list_display = ["user", "auto_extract", "recall", "updated_at"]
    list_filter = ["auto_extract", "recall"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin[EmbeddingSpace]):
    """Read-only: ``manage.py reembed`` is the one way to change the model behind the vectors."""

    list_display = ["provider", "model", "dims", "next_model", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
