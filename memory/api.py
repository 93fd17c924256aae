"""Memory REST API: a user's own insights, preferences and switches; thin views over selectors
and services. Another user's insight answers 404, like one that does not exist; bad input
answers 400 naming the problem, and nothing is stored."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import acting_user
from memory import selectors, services
from memory.models import Insight, MemorySettings, Preference


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _paginated(
    request: Request, view: APIView, rows: Any, output: type[serializers.BaseSerializer[Any]]
) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(output(page, many=True).data)


class StrictInput(serializers.Serializer[Any]):
    """Refuses fields it does not know by name (a ``user`` in the body is an error, not a way
    to write someone else's memories)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            extra = sorted(set(data) - set(self.fields))
            if extra:
                raise serializers.ValidationError({extra[0]: ["Unknown field."]})
        return super().to_internal_value(data)


class InsightOutput(serializers.ModelSerializer[Insight]):
    source_conversation = serializers.UUIDField(source="source_conversation_id", allow_null=True)
    source_message = serializers.UUIDField(source="source_message_id", allow_null=True)

    class Meta:
        model = Insight
        fields = [
            "id", "content", "category", "importance", "tier", "source", "source_conversation",
            "source_message", "created_at", "updated_at", "last_used_at", "use_count",
        ]  # fmt: skip


class ScoredInsightOutput(serializers.Serializer[Any]):
    insight = InsightOutput()
    score = serializers.FloatField()


class SavedInsightOutput(InsightOutput):
    merged = serializers.SerializerMethodField()
    similarity = serializers.SerializerMethodField()

    class Meta(InsightOutput.Meta):
        fields = [*InsightOutput.Meta.fields, "merged", "similarity"]

    def get_merged(self, obj: Insight) -> bool:
        return bool(self.context.get("merged"))

    def get_similarity(self, obj: Insight) -> float | None:
        value = self.context.get("similarity")
        return None if value is None else float(value)


class PreferenceOutput(serializers.ModelSerializer[Preference]):
    class Meta:
        model = Preference
        fields = ["key", "value", "source", "created_at", "updated_at"]


class SettingsOutput(serializers.ModelSerializer[MemorySettings]):
    class Meta:
        model = MemorySettings
        fields = ["auto_extract", "recall"]


class InsightListApi(APIView):
    class CreateInput(StrictInput):
        class Meta:
            ref_name = "MemoryInsightCreate"  # nested input classes would share one schema name

        content = serializers.CharField(trim_whitespace=False, allow_blank=True)
        category = serializers.CharField(required=False, default=Insight.Category.FACT)
        importance = serializers.FloatField(required=False, default=0.5)

    @extend_schema(
        parameters=[
            OpenApiParameter("category", str, description="only this category"),
            OpenApiParameter("tier", str, description="hot or archive"),
            OpenApiParameter("source", str, description="user, agent or extracted"),
        ],
        responses=InsightOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        rows = selectors.insight_list(
            user=acting_user(request),
            category=request.query_params.get("category"),
            tier=request.query_params.get("tier"),
            source=request.query_params.get("source"),
        )
        return _paginated(request, self, rows, InsightOutput)

    @extend_schema(
        request=CreateInput,
        responses={201: SavedInsightOutput, 200: SavedInsightOutput},
        description="Adds an insight; a near-duplicate of one you have updates that one "
        "instead (200, merged: true).",
    )
    def post(self, request: Request) -> Response:
        data = self.CreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        saved = services.insight_save(user=acting_user(request), **data.validated_data)
        body = SavedInsightOutput(
            saved.insight, context={"merged": not saved.created, "similarity": saved.similarity}
        ).data
        return Response(
            body, status=status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK
        )


class InsightDetailApi(APIView):
    class UpdateInput(StrictInput):
        class Meta:
            ref_name = "MemoryInsightUpdate"  # nested input classes would share one schema name

        content = serializers.CharField(required=False, trim_whitespace=False, allow_blank=True)
        category = serializers.CharField(required=False)
        importance = serializers.FloatField(required=False)
        tier = serializers.CharField(required=False)

    @extend_schema(responses=InsightOutput)
    def get(self, request: Request, insight_id: str) -> Response:
        insight = selectors.insight_get(user=acting_user(request), insight_id=insight_id)
        return Response(InsightOutput(insight).data)

    @extend_schema(request=UpdateInput, responses=InsightOutput)
    def patch(self, request: Request, insight_id: str) -> Response:
        data = self.UpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        insight = services.insight_update(
            user=acting_user(request), insight_id=insight_id, **data.validated_data
        )
        return Response(InsightOutput(insight).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, insight_id: str) -> Response:
        services.insight_delete(user=acting_user(request), insight_id=insight_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InsightSearchApi(APIView):
    class SearchInput(StrictInput):
        class Meta:
            ref_name = "MemoryInsightSearch"  # nested input classes would share one schema name

        text = serializers.CharField(required=False, trim_whitespace=False, allow_blank=True)
        vector = serializers.ListField(child=serializers.FloatField(), required=False)
        k = serializers.IntegerField(required=False, default=5)
        category = serializers.CharField(required=False, allow_blank=True)

    def _search(self, request: Request, data: dict[str, Any]) -> Response:
        form = self.SearchInput(data=data)
        form.is_valid(raise_exception=True)
        results = selectors.insight_search(user=acting_user(request), **form.validated_data)
        return Response({"results": ScoredInsightOutput(results, many=True).data})

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="what to look for"),
            OpenApiParameter("k", int, description="how many (1-100, default 5)"),
            OpenApiParameter("category", str, description="only this category"),
        ],
        responses=ScoredInsightOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        data: dict[str, Any] = {"text": params.get("q", "")}
        data.update({name: params[name] for name in ("k", "category") if name in params})
        return self._search(request, data)

    @extend_schema(request=SearchInput, responses=ScoredInsightOutput(many=True))
    def post(self, request: Request) -> Response:
        return self._search(request, request.data)


class PreferenceListApi(APIView):
    @extend_schema(responses=PreferenceOutput(many=True))
    def get(self, request: Request) -> Response:
        rows = selectors.preference_list(user=acting_user(request))
        return _paginated(request, self, rows, PreferenceOutput)


class PreferenceDetailApi(APIView):
    class SetInput(StrictInput):
        class Meta:
            ref_name = "MemoryPreferenceSet"  # nested input classes would share one schema name

        value = serializers.CharField(trim_whitespace=False, allow_blank=True)

    @extend_schema(responses=PreferenceOutput)
    def get(self, request: Request, key: str) -> Response:
        preference = selectors.preference_get(user=acting_user(request), key=key)
        return Response(PreferenceOutput(preference).data)

    @extend_schema(request=SetInput, responses=PreferenceOutput)
    def put(self, request: Request, key: str) -> Response:
        data = self.SetInput(data=request.data)
        data.is_valid(raise_exception=True)
        preference, _ = services.preference_set(
            user=acting_user(request), key=key, value=data.validated_data["value"]
        )
        return Response(PreferenceOutput(preference).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, key: str) -> Response:
        services.preference_delete(user=acting_user(request), key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SettingsApi(APIView):
    class UpdateInput(StrictInput):
        class Meta:
            ref_name = "MemorySettingsUpdate"  # nested input classes would share one schema name

        auto_extract = serializers.BooleanField(required=False)
        recall = serializers.BooleanField(required=False)

    @extend_schema(responses=SettingsOutput)
    def get(self, request: Request) -> Response:
        return Response(
            SettingsOutput(selectors.memory_settings_get(user=acting_user(request))).data
        )

    @extend_schema(request=UpdateInput, responses=SettingsOutput)
    def patch(self, request: Request) -> Response:
        data = self.UpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.memory_settings_update(user=acting_user(request), **data.validated_data)
        return Response(SettingsOutput(row).data)
