"""Agents API (M2-006): users see system agents and their own; they change only their own."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors, services
from agents.models import AgentConfig, Session
from mosaic.accounts.auth import acting_user


class AgentOutput(serializers.ModelSerializer[AgentConfig]):
    system = serializers.BooleanField(source="is_system")

    class Meta:
        model = AgentConfig
        fields = [
            "id", "slug", "name", "description", "system_prompt", "default_provider", "default_model",
            "tool_allowlist", "skills", "capabilities", "system", "created_at", "updated_at",
        ]  # fmt: skip


class AgentInput(serializers.Serializer[Any]):
    slug = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=100)
    system_prompt = serializers.CharField(max_length=100_000, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    default_provider = serializers.CharField(required=False, allow_blank=True, default="")
    default_model = serializers.CharField(required=False, allow_blank=True, default="")
    tool_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, default=list
    )
    skills = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, default=list
    )
    capabilities = serializers.DictField(required=False, default=dict)


class AgentUpdateInput(AgentInput):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)


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
        return Response(
            AgentOutput(
                selectors.agent_get_by_id(user=acting_user(request), agent_id=agent_id)
            ).data
        )

    @extend_schema(request=AgentUpdateInput, responses=AgentOutput)
    def patch(self, request: Request, agent_id: str) -> Response:
        data = AgentUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = {
            key: data.validated_data[key] for key in request.data if key in data.validated_data
        }
        agent = services.agent_update(user=acting_user(request), agent_id=agent_id, **fields)
        return Response(AgentOutput(agent).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, agent_id: str) -> Response:
        services.agent_delete(user=acting_user(request), agent_id=agent_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionOutput(serializers.ModelSerializer[Session]):
    duration_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = Session
        fields = [
            "id", "conversation", "agent_slug", "model_override", "started_at", "ended_at", "duration_seconds",
            "turns", "input_tokens", "output_tokens", "model_switches", "agent_switches", "cost_usd",
            "last_provider", "last_model",
        ]  # fmt: skip


class SessionListApi(APIView):
    @extend_schema(responses=SessionOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(
            SessionOutput(selectors.session_list(user=acting_user(request))[:100], many=True).data
        )
