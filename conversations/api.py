"""Conversation REST API: thin views over selectors and services (owner only; others get 404)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.auth import acting_user
from conversations import selectors, services
from conversations.models import Conversation, Message
from conversations.search import SearchHit


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ConversationOutput(serializers.ModelSerializer[Conversation]):
    agent = serializers.CharField(source="agent_slug")
    message_count = serializers.IntegerField(required=False)

    class Meta:
        model = Conversation
        fields = ["id", "title", "agent", "created_at", "updated_at", "archived", "message_count"]


class MessageOutput(serializers.ModelSerializer[Message]):
    class Meta:
        model = Message
        fields = [
            "id", "sequence", "role", "content", "status", "tool_call_id", "tool_name", "tool_arguments",
            "is_error", "provider", "model", "input_tokens", "output_tokens", "latency_ms", "routing",
            "covers_from", "covers_to", "client_id", "created_at",
        ]  # fmt: skip


class SearchResultOutput(serializers.Serializer[SearchHit]):
    message_id = serializers.UUIDField()
    conversation_id = serializers.UUIDField()
    conversation_title = serializers.CharField()
    role = serializers.CharField()
    snippet = serializers.SerializerMethodField()
    rank = serializers.FloatField()
    created_at = serializers.DateTimeField()

    def get_snippet(self, hit: SearchHit) -> str:
        return selectors.safe_snippet(hit.raw_snippet)


_search_time = serializers.DateTimeField()


def search_result_json(hit: SearchHit) -> dict[str, Any]:
    """What ``SearchResultOutput`` (the documented shape) makes of a hit, built directly: the
    serializer's per-field machinery cost a few milliseconds for a page of 50."""
    return {
        "message_id": str(hit.message_id),
        "conversation_id": str(hit.conversation_id),
        "conversation_title": hit.conversation_title,
        "role": hit.role,
        "snippet": selectors.safe_snippet(hit.raw_snippet),
        "rank": float(hit.rank),
        "created_at": _search_time.to_representation(hit.created_at),
    }


class SearchPageOutput(serializers.Serializer[Any]):
    count = serializers.IntegerField(help_text="matches in this window (at most `window`)")
    window = serializers.IntegerField(
        help_text="how many of the newest matches are ranked together (MOSAIC_SEARCH_WINDOW)"
    )
    has_older = serializers.BooleanField(
        help_text="older matches remain past this window; `next` leads to them"
    )
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SearchResultOutput(many=True)


def _paginated(
    request: Request,
    view: APIView,
    queryset: Any,
    serializer: type[serializers.BaseSerializer[Any]],
) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


class ConversationListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("archived", bool, description="list archived conversations instead")
        ],
        responses=ConversationOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        archived = request.query_params.get("archived", "").lower() in {"1", "true", "yes"}
        return _paginated(
            request,
            self,
            selectors.conversation_list(user=acting_user(request), archived=archived),
            ConversationOutput,
        )

    class CreateInput(serializers.Serializer[Any]):
        title = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
        agent = serializers.SlugField(max_length=64, required=False, default="", allow_blank=True)

    @extend_schema(request=CreateInput, responses={201: ConversationOutput})
    def post(self, request: Request) -> Response:
        data = self.CreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_create(
            user=acting_user(request),
            title=data.validated_data["title"],
            agent_slug=data.validated_data["agent"],
        )
        return Response(ConversationOutput(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailApi(APIView):
    class UpdateInput(serializers.Serializer[Any]):
        title = serializers.CharField(max_length=200, required=False, allow_blank=True)
        archived = serializers.BooleanField(required=False)

    @extend_schema(responses=ConversationOutput)
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation = selectors.conversation_detail(
            user=acting_user(request), conversation_id=conversation_id
        )
        return Response(ConversationOutput(conversation).data)

    @extend_schema(request=UpdateInput, responses=ConversationOutput)
    def patch(self, request: Request, conversation_id: str) -> Response:
        data = self.UpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_update(
            user=acting_user(request), conversation_id=conversation_id, **data.validated_data
        )
        return Response(ConversationOutput(conversation).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, conversation_id: str) -> Response:
        services.conversation_delete(user=acting_user(request), conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListApi(APIView):
    @extend_schema(responses=MessageOutput(many=True))
    def get(self, request: Request, conversation_id: str) -> Response:
        rows = selectors.message_list(
            user=acting_user(request), conversation_id=conversation_id
        ).defer("search_vector")
        return _paginated(request, self, rows, MessageOutput)


class ConversationSearchApi(APIView):
    class SearchInput(serializers.Serializer[Any]):
        q = serializers.CharField(trim_whitespace=False, allow_blank=True, default="")
        page_size = serializers.IntegerField(min_value=1, max_value=200, default=50)
        cursor = serializers.CharField(required=False, default="")
        as_you_type = serializers.BooleanField(default=False)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description='words, "a phrase", -excluded, or, prefix* (3+ characters)',
            ),
            OpenApiParameter(
                "page_size", int, description="results per page, 1 to 200 (default 50)"
            ),
            OpenApiParameter("cursor", str, description="from a previous page's next/previous"),
            OpenApiParameter(
                "as_you_type", bool, description="match the unfinished last word as a prefix"
            ),
        ],
        responses=SearchPageOutput,
    )
    def get(self, request: Request) -> Response:
        data = self.SearchInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        page = selectors.conversation_search(
            user=acting_user(request),
            query=data.validated_data["q"],
            page_size=data.validated_data["page_size"],
            cursor=data.validated_data["cursor"] or None,
            as_you_type=data.validated_data["as_you_type"],
        )
        url = request.build_absolute_uri()
        return Response(
            {
                "count": page.count,
                "window": page.window,
                "has_older": page.has_older,
                "next": page.next and replace_query_param(url, "cursor", page.next.encode()),
                "previous": page.previous
                and replace_query_param(url, "cursor", page.previous.encode()),
                "results": [search_result_json(hit) for hit in page.hits],
            }
        )
