"""Agents and sessions API (M2-006, M5-007): thin views over selectors and services.

Users see the system agents and their own, and create, change and delete their own. Another
user's agent or session answers 404; changing or deleting a system agent answers 403 (staff
change them in the admin). Validation errors answer 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import acting_user
from agents import selectors, services
from agents.models import AgentConfig, Session
from agents.tools import all_tools
from conversations.api import Pagination
from core.errors import InvalidInput, NotFound
from routing import services as routing_services


class AgentOutput(serializers.ModelSerializer[AgentConfig]):
    system = serializers.BooleanField(source="is_system")

    class Meta:
        model = AgentConfig
        fields = [
            "id", "slug", "name", "description", "system_prompt", "default_provider", "default_model",
            "tool_allowlist", "skills", "capabilities", "system", "created_at", "updated_at",
        ]  # fmt: skip


# Fields the API returns but nobody writes: accepted (and ignored) so that a client can send
# back what it read; any other unknown field is refused by name.
_READ_ONLY = frozenset({"id", "system", "created_at", "updated_at"})


class CapabilitiesInput(serializers.Serializer[Any]):
    domains = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    preferred_models = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            extra = sorted(set(data) - set(self.fields))
            if extra:
                raise serializers.ValidationError({extra[0]: ["Unknown key."]})
        return super().to_internal_value(data)


class AgentInput(serializers.Serializer[Any]):
    """Shape only (types and lengths); the rules (slugs, tools, models, domains) are the service's."""

    slug = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Defaults to one made from the name.",
    )
    name = serializers.CharField(max_length=services.MAX_NAME)
    system_prompt = serializers.CharField(max_length=services.MAX_PROMPT)
    description = serializers.CharField(
        max_length=services.MAX_DESCRIPTION, required=False, allow_blank=True
    )
    default_provider = serializers.CharField(max_length=32, required=False, allow_blank=True)
    default_model = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="A model id (claude-sonnet-4-6) or provider:model; blank lets routing decide.",
    )
    tool_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False
    )
    skills = serializers.ListField(
        child=serializers.CharField(max_length=services.MAX_SKILL_LENGTH), required=False
    )
    capabilities = CapabilitiesInput(required=False)

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields) - _READ_ONLY)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class AgentListApi(APIView):
    @extend_schema(responses=AgentOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(
            AgentOutput(selectors.agents_accessible(user=acting_user(request)), many=True).data
        )

    @extend_schema(request=AgentInput, responses={201: AgentOutput})
    def post(self, request: Request) -> Response:
        data = AgentInput(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_create(user=acting_user(request), **data.validated_data)
        return Response(AgentOutput(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailApi(APIView):
    @extend_schema(responses=AgentOutput)
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get_by_id(user=acting_user(request), agent_id=agent_id)
        return Response(AgentOutput(agent).data)

    @extend_schema(request=AgentInput(partial=True), responses=AgentOutput)
    def patch(self, request: Request, agent_id: str) -> Response:
        data = AgentInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        agent = services.agent_update(
            user=acting_user(request), agent_id=agent_id, **data.validated_data
        )
        return Response(AgentOutput(agent).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, agent_id: str) -> Response:
        services.agent_delete(user=acting_user(request), agent_id=agent_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ToolOutput(serializers.Serializer[Any]):
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.JSONField(help_text="JSON schema of the arguments")


class ToolListApi(APIView):
    """The tools an agent's ``tool_allowlist`` may name."""

    @extend_schema(responses=ToolOutput(many=True))
    def get(self, request: Request) -> Response:
        tools = sorted(all_tools().values(), key=lambda tool: tool.name)
        return Response(ToolOutput(tools, many=True).data)


class SessionOutput(serializers.ModelSerializer[Session]):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Session
        fields = [
            "id", "conversation", "agent_slug", "model_override", "started_at", "ended_at", "duration_seconds",
            "turns", "input_tokens", "output_tokens", "model_switches", "agent_switches", "cost_usd",
            "last_provider", "last_model",
        ]  # fmt: skip


class SessionListApi(APIView):
    class FilterInput(serializers.Serializer[Any]):
        conversation = serializers.UUIDField(required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter("conversation", str, description="only this conversation's sessions")
        ],
        responses=SessionOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        query = self.FilterInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        sessions = selectors.session_list(
            user=acting_user(request), conversation_id=query.validated_data.get("conversation")
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(sessions, request, view=self)
        return paginator.get_paginated_response(SessionOutput(page, many=True).data)


class SessionDetailApi(APIView):
    @extend_schema(responses=SessionOutput)
    def get(self, request: Request, session_id: str) -> Response:
        session = selectors.session_get(user=acting_user(request), session_id=session_id)
        return Response(SessionOutput(session).data)


class RoutingExplainApi(APIView):
    """The classification and routing decision you would get for a message; calls no model."""

    class InputSerializer(serializers.Serializer[None]):
        class Meta:
            ref_name = "RoutingExplain"  # nested InputSerializers would share one schema name

        text = serializers.CharField(
            max_length=settings.MOSAIC_MAX_MESSAGE_BYTES, trim_whitespace=False
        )
        model_override = serializers.CharField(max_length=200, required=False, default="")
        agent = serializers.CharField(max_length=64, required=False, default="")

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "RoutingExplanation",
            {"classification": serializers.JSONField(), "decision": serializers.JSONField()},
        ),
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = acting_user(request)
        profile = None
        if slug := data.validated_data["agent"]:
            try:
                agent = selectors.agent_get(user=user, slug=slug)
            except NotFound as exc:  # a name in the request body: the request is invalid
                raise InvalidInput(exc.message) from None
            profile = selectors.agent_routing_profile(agent)
        decision = routing_services.decision_explain(
            user=user,
            text=data.validated_data["text"],
            model_override=data.validated_data["model_override"],
            agent=profile,
        )
        return Response(
            {"classification": decision.classification.to_dict(), "decision": decision.to_dict()}
        )
