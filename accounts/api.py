from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.auth import acting_user
from accounts.login_limit import client_address
from accounts.models import ApiToken, hash_token
from core.errors import InvalidInput


class TokenApi(APIView):
    """``POST``: exchange a username and password for an API token (used as
    ``Authorization: Bearer``). ``DELETE``: log out, revoking the token this request carries."""

    throttle_scope = "auth"

    class InputSerializer(serializers.Serializer[None]):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)
        name = serializers.CharField(max_length=100, required=False, default="api")

    def get_authenticators(self) -> list[BaseAuthentication]:
        # Issuing takes a password, not a token or a session.
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    def get_permissions(self) -> list[BasePermission]:
        if self.request is not None and self.request.method == "POST":
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        request=InputSerializer,
        responses={201: inline_serializer("TokenIssued", {"token": serializers.CharField()})},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            _, raw = services.token_issue(**data.validated_data, client_ip=client_address(request))
        except services.InvalidCredentials as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_401_UNAUTHORIZED)
        return Response({"token": raw}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, str):
            raise InvalidInput(
                "This request carries no API token to revoke; send Authorization: Bearer <token>."
            )
        services.token_revoke(user=acting_user(request), raw=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenOutput(serializers.ModelSerializer[ApiToken]):
    current = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "state"]
        fields += ["current"]

    def get_current(self, token: ApiToken) -> bool:
        return token.token_hash == self.context.get("current_hash")

    def get_state(self, token: ApiToken) -> str:
        if token.revoked:
            return "revoked"
        return "expired" if token.expires_at <= self.context["now"] else "active"


class TokenListApi(APIView):
    """The acting user's own API tokens (never their secrets: only the first characters)."""

    @extend_schema(responses=TokenOutput(many=True))
    def get(self, request: Request) -> Response:
        user = acting_user(request)
        current = hash_token(request.auth) if isinstance(request.auth, str) else None
        context: dict[str, Any] = {"now": timezone.now(), "current_hash": current}
        tokens = selectors.token_list(user=user)
        return Response(TokenOutput(tokens, many=True, context=context).data)


class TokenDetailApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        services.token_revoke_by_id(user=acting_user(request), token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "id": serializers.IntegerField(),
                "username": serializers.CharField(),
                "is_staff": serializers.BooleanField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"id": user.pk, "username": user.get_username(), "is_staff": user.is_staff})
