"""REST API of routing: rules CRUD and reorder (M4-009). The explain endpoint (M4-008) needs the
agent's declared capabilities, which the agents app owns, so it lives in ``agents/api.py``.

Domain errors (NotFound, InvalidInput, Conflict) become HTTP statuses in core/http_errors.py.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import acting_user
from routing import selectors, services
from routing.models import RoutingRule
from routing.rules import describe_conditions


class RuleOutputSerializer(serializers.Serializer[RoutingRule]):
    class Meta:
        ref_name = "RoutingRule"

    id = serializers.IntegerField()
    name = serializers.CharField()
    priority = serializers.IntegerField()
    conditions = serializers.JSONField()
    action = serializers.JSONField()
    enabled = serializers.BooleanField()
    system = serializers.BooleanField(source="is_system")
    editable = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_editable(self, rule: RoutingRule) -> bool:
        return not rule.is_system or bool(self.context.get("is_staff"))

    def get_summary(self, rule: RoutingRule) -> str:
        route = rule.action.get("route_to", {}) if isinstance(rule.action, dict) else {}
        return (
            f"{describe_conditions(rule.conditions)} → {route.get('provider')}:{route.get('model')}"
        )


def _rules_out(request: Request, rules: Any, *, many: bool = False) -> Any:
    context = {"is_staff": acting_user(request).is_staff}
    return RuleOutputSerializer(rules, many=many, context=context).data


class RuleListCreateApi(APIView):
    """Your own rules (tried first) and the system rules, flagged ``system``; create a rule."""

    class InputSerializer(serializers.Serializer[None]):
        class Meta:
            ref_name = "RoutingRuleCreate"  # nested InputSerializers would share one schema name

        name = serializers.CharField(max_length=100)
        priority = serializers.IntegerField(
            required=False, min_value=1, max_value=services.MAX_PRIORITY
        )
        conditions = serializers.JSONField()
        action = serializers.JSONField()
        enabled = serializers.BooleanField(required=False, default=True)
        system = serializers.BooleanField(
            required=False, default=False, help_text="Staff only: a rule for every user."
        )

    @extend_schema(responses=RuleOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        rules = selectors.rules_visible(user=acting_user(request))
        return Response(_rules_out(request, rules, many=True))

    @extend_schema(request=InputSerializer, responses={201: RuleOutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_create(user=acting_user(request), **data.validated_data)
        return Response(_rules_out(request, rule), status=status.HTTP_201_CREATED)


class RuleDetailApi(APIView):
    class InputSerializer(serializers.Serializer[None]):
        class Meta:
            ref_name = "RoutingRuleUpdate"  # nested InputSerializers would share one schema name

        name = serializers.CharField(max_length=100, required=False)
        priority = serializers.IntegerField(
            required=False, min_value=1, max_value=services.MAX_PRIORITY
        )
        conditions = serializers.JSONField(required=False)
        action = serializers.JSONField(required=False)
        enabled = serializers.BooleanField(required=False)

    @extend_schema(responses=RuleOutputSerializer)
    def get(self, request: Request, rule_id: int) -> Response:
        rule = selectors.rule_get(user=acting_user(request), rule_id=rule_id)
        return Response(_rules_out(request, rule))

    @extend_schema(request=InputSerializer, responses=RuleOutputSerializer)
    def patch(self, request: Request, rule_id: int) -> Response:
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        rule = services.rule_update(
            user=acting_user(request), rule_id=rule_id, **data.validated_data
        )
        return Response(_rules_out(request, rule))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, rule_id: int) -> Response:
        services.rule_delete(user=acting_user(request), rule_id=rule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleReorderApi(APIView):
    """Set priorities 1..n for the listed rules (your own, or staff: system rules)."""

    class InputSerializer(serializers.Serializer[None]):
        class Meta:
            ref_name = "RoutingRuleReorder"  # nested InputSerializers would share one schema name

        order = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=1000)

    @extend_schema(request=InputSerializer, responses=RuleOutputSerializer(many=True))
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rules = services.rules_reorder(
            user=acting_user(request), order=data.validated_data["order"]
        )
        return Response(_rules_out(request, rules, many=True))
