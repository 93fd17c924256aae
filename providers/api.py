"""REST API of the providers app: credentials, OAuth logins, health and models.

Views parse, call one service or selector, and shape the answer; domain errors become HTTP
statuses in one place (``core/http_errors.py``). Secrets are write-only: no
serializer here has a field that reads one back; ``secret_hint`` is at most ``sk-…abcd``.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import acting_user
from core.http_errors import status_for
from providers import model_lists, oauth, selectors, services
from providers.adapters.base import ProviderError
from providers.fields import validate_http_url
from providers.models import ProviderCredential
from providers.registry import PROVIDERS

# --- serializers ---------------------------------------------------------------------------------


class CredentialOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    provider = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    kind = serializers.CharField()
    secret_hint = serializers.SerializerMethodField()
    base_url = serializers.CharField()
    scopes = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()

    def get_secret_hint(self, credential: ProviderCredential) -> str:
        return selectors.mask_secret(credential.secret)


class ProviderSummarySerializer(serializers.Serializer[Any]):
    provider = serializers.CharField()
    in_use = serializers.ChoiceField(choices=["user", "system", "none"])
    credential_id = serializers.UUIDField(allow_null=True)
    secret_hint = serializers.CharField()


class HealthSerializer(serializers.Serializer[Any]):
    provider = serializers.CharField()
    status = serializers.CharField()
    latency_ms = serializers.FloatField(allow_null=True)
    error = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)


class ModelSpecSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    provider = serializers.CharField()
    id = serializers.CharField()
    display_name = serializers.CharField()
    tier = serializers.CharField()
    context_window = serializers.IntegerField()
    max_output = serializers.IntegerField()
    tools = serializers.BooleanField()
    vision = serializers.BooleanField()
    reasoning = serializers.BooleanField()
    streaming = serializers.BooleanField()
    embedding_dims = serializers.IntegerField(allow_null=True)
    input_cost_per_mtok = serializers.FloatField(allow_null=True)
    output_cost_per_mtok = serializers.FloatField(allow_null=True)


class ModelSourceSerializer(serializers.Serializer[Any]):
    provider = serializers.CharField()
    source = serializers.ChoiceField(choices=["catalog", "upstream", "cache"])  # type: ignore[assignment]
    stale = serializers.BooleanField()
    error = serializers.CharField()
    fetched_at = serializers.DateTimeField(allow_null=True)
    count = serializers.IntegerField()


def credential_data(credential: ProviderCredential) -> dict[str, Any]:
    return dict(CredentialOutputSerializer(credential).data)


# --- credentials ---------------------------------------------------------------------------------


class ProviderListApi(APIView):
    """The acting user's credentials, and which credential each provider would use for them."""

    class CredentialCreateInput(serializers.Serializer[Any]):
        provider = serializers.ChoiceField(choices=list(PROVIDERS))
        api_key = serializers.CharField(
            write_only=True, allow_blank=True, default="", trim_whitespace=True, max_length=4096
        )
        label = serializers.CharField(allow_blank=True, default="", max_length=100)  # type: ignore[assignment]
        base_url = serializers.CharField(
            allow_blank=True, default="", max_length=500, validators=[validate_http_url]
        )

    @extend_schema(
        operation_id="providers_list",
        responses=inline_serializer(
            "ProviderCredentials",
            {
                "providers": ProviderSummarySerializer(many=True),
                "credentials": CredentialOutputSerializer(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        user = acting_user(request)
        credentials = list(selectors.credential_list(user=user))
        summary = [dataclasses.asdict(s) for s in selectors.provider_summary(user=user)]
        return Response(
            {
                "providers": ProviderSummarySerializer(summary, many=True).data,
                "credentials": CredentialOutputSerializer(credentials, many=True).data,
            }
        )

    @extend_schema(request=CredentialCreateInput, responses={201: CredentialOutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.CredentialCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = services.credential_create(user=acting_user(request), **data.validated_data)
        return Response(credential_data(credential), status=status.HTTP_201_CREATED)


class ProviderDetailApi(APIView):
    class CredentialUpdateInput(serializers.Serializer[Any]):
        label = serializers.CharField(allow_blank=True, required=False, max_length=100)  # type: ignore[assignment]
        api_key = serializers.CharField(
            write_only=True, allow_blank=True, required=False, max_length=4096
        )
        base_url = serializers.CharField(
            allow_blank=True, required=False, max_length=500, validators=[validate_http_url]
        )
        is_active = serializers.BooleanField(required=False)

    @extend_schema(responses=CredentialOutputSerializer)
    def get(self, request: Request, id: UUID) -> Response:
        credential = selectors.credential_get(user=acting_user(request), credential_id=id)
        return Response(credential_data(credential))

    @extend_schema(request=CredentialUpdateInput, responses=CredentialOutputSerializer)
    def patch(self, request: Request, id: UUID) -> Response:
        data = self.CredentialUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = services.credential_update(
            user=acting_user(request), credential_id=id, **data.validated_data
        )
        return Response(credential_data(credential))

    @extend_schema(request=CredentialUpdateInput, responses=CredentialOutputSerializer)
    def put(self, request: Request, id: UUID) -> Response:
        return self.patch(request, id)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: UUID) -> Response:
        services.credential_delete(user=acting_user(request), credential_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProviderTestApi(APIView):
    """Run the provider's health check with this credential, now (about 10 s at most)."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "CredentialTest",
            {
                "provider": serializers.CharField(),
                "status": serializers.CharField(),
                "latency_ms": serializers.FloatField(allow_null=True),
                "error": serializers.CharField(),
            },
        ),
    )
    def post(self, request: Request, id: UUID) -> Response:
        result = services.credential_test(user=acting_user(request), credential_id=id)
        return Response(
            {
                "provider": result.provider,
                "status": result.health.status,
                "latency_ms": result.health.latency_ms,
                "error": result.health.error,
            }
        )


# --- health and models ---------------------------------------------------------------------------


class ProviderHealthApi(APIView):
    """The last probe of each provider, as recorded by the scheduled task (never probes)."""

    @extend_schema(
        responses=inline_serializer(
            "ProviderHealthList",
            {
                "providers": HealthSerializer(many=True),
                "interval_seconds": serializers.IntegerField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        statuses = [dataclasses.asdict(s) for s in selectors.health_map().values()]
        return Response(
            {
                "providers": HealthSerializer(statuses, many=True).data,
                "interval_seconds": settings.MOSAIC_PROVIDER_HEALTH_INTERVAL,
            }
        )


class ProviderModelsApi(APIView):
    """The models the acting user can use now (providers with a usable credential only)."""

    @extend_schema(
        responses=inline_serializer(
            "ProviderModelList",
            {
                "models": ModelSpecSerializer(many=True),
                "providers": ModelSourceSerializer(many=True),
            },
        )
    )
    def get(self, request: Request) -> Response:
        listing = model_lists.available_models(user=acting_user(request))
        models = [{"key": spec.key, **dataclasses.asdict(spec)} for spec in listing.models]
        sources = [
            {
                "provider": entry.provider,
                "source": entry.source,
                "stale": entry.stale,
                "error": entry.error,
                "fetched_at": entry.fetched_at,
                "count": len(entry.models),
            }
            for entry in listing.providers
        ]
        return Response(
            {
                "models": ModelSpecSerializer(models, many=True).data,
                "providers": ModelSourceSerializer(sources, many=True).data,
            }
        )


# --- OAuth ---------------------------------------------------------------------------------------


def callback_url(request: Request) -> str:
    return request.build_absolute_uri(reverse("providers-oauth-callback"))


class OAuthStartApi(APIView):
    """Start a PKCE login: returns the URL for the user to open (valid for 10 minutes)."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "OAuthStart",
            {
                "provider": serializers.CharField(),
                "authorize_url": serializers.URLField(),
                "state": serializers.CharField(),
                "redirect_uri": serializers.CharField(),
                "expires_in": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request: Request, provider: str) -> Response:
        start = services.oauth_start(
            user=acting_user(request), provider=provider, default_redirect_uri=callback_url(request)
        )
        return Response(dataclasses.asdict(start), status=status.HTTP_201_CREATED)


class OAuthCompleteApi(APIView):
    """Finish a login with the pasted code (``code#state`` or the code plus ``state``)."""

    class OAuthCompleteInput(serializers.Serializer[Any]):
        code = serializers.CharField(max_length=4096)
        state = serializers.CharField(max_length=512, required=False, default="", allow_blank=True)

    @extend_schema(request=OAuthCompleteInput, responses={201: CredentialOutputSerializer})
    def post(self, request: Request, provider: str) -> Response:
        data = self.OAuthCompleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = services.oauth_complete(
            user=acting_user(request), provider=provider, **data.validated_data
        )
        return Response(credential_data(credential), status=status.HTTP_201_CREATED)


class OAuthCallbackApi(APIView):
    """Where the authorization server sends the browser back (``?code=…&state=…``).

    A signed-in browser (same user who started) completes the login here. Anyone else is shown
    ``code#state`` to paste into the terminal that started it: completing on behalf of whoever
    holds the state would let an attacker hand a victim a login that lands in the attacker's
    account.
    """

    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, TemplateHTMLRenderer]
    template_name = "providers/oauth_callback.html"

    @extend_schema(request=None, responses={200: None})
    def get(self, request: Request) -> Response:
        code = str(request.query_params.get("code", ""))
        state = str(request.query_params.get("state", ""))
        error = str(request.query_params.get("error", ""))
        if error:
            description = str(request.query_params.get("error_description", ""))
            message = f"The provider did not authorise the login ({error}{': ' + description if description else ''})."
            return self._page("error", message, status.HTTP_400_BAD_REQUEST)
        if not code or not state:
            return self._page(
                "error", "The callback needs both code and state.", status.HTTP_400_BAD_REQUEST
            )
        if not request.user.is_authenticated:
            return self._page(
                "paste",
                "Paste this into the terminal where you ran `mosaic providers login`.",
                status.HTTP_200_OK,
                pasted=f"{code}#{state}",
            )
        try:
            credential = services.oauth_complete(user=acting_user(request), code=code, state=state)
        except (oauth.OAuthError, ProviderError, services.CredentialInvalid) as exc:
            return self._page("error", exc.message, status_for(exc))
        return self._page(
            "complete",
            f"Logged in to {credential.provider}; you can close this page.",
            status.HTTP_200_OK,
            credential=credential_data(credential),
        )

    def _page(self, outcome: str, message: str, code: int, **extra: Any) -> Response:
        return Response({"status": outcome, "detail": message, **extra}, status=code)


class OAuthDeviceStartApi(APIView):
    """Start a device-code login: returns the code to enter and where to enter it."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "OAuthDeviceStart",
            {
                "provider": serializers.CharField(),
                "device_id": serializers.CharField(),
                "user_code": serializers.CharField(),
                "verification_uri": serializers.CharField(),
                "verification_uri_complete": serializers.CharField(),
                "expires_in": serializers.IntegerField(),
                "interval": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request: Request, provider: str) -> Response:
        start = services.oauth_device_start(user=acting_user(request), provider=provider)
        return Response(dataclasses.asdict(start), status=status.HTTP_201_CREATED)


class OAuthDevicePollApi(APIView):
    """Has the user approved yet? ``pending`` (poll again after ``interval`` s) or ``complete``."""

    class OAuthDevicePollInput(serializers.Serializer[Any]):
        device_id = serializers.CharField(max_length=128)

    @extend_schema(
        request=OAuthDevicePollInput,
        responses=inline_serializer(
            "OAuthDevicePoll",
            {
                "status": serializers.ChoiceField(choices=["pending", "complete"]),
                "interval": serializers.IntegerField(),
                "credential": CredentialOutputSerializer(allow_null=True),
            },
        ),
    )
    def post(self, request: Request, provider: str) -> Response:
        data = self.OAuthDevicePollInput(data=request.data)
        data.is_valid(raise_exception=True)
        poll = services.oauth_device_poll(
            user=acting_user(request), provider=provider, device_id=data.validated_data["device_id"]
        )
        return Response(
            {
                "status": poll.status,
                "interval": poll.interval,
                "credential": credential_data(poll.credential) if poll.credential else None,
            }
        )
