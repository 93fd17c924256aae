from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.api import MeApi, TokenIssueApi


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


class ApiRoot(APIView):
    """The API's entry points. In a browser, "Log in" (top right) with your Mosaic username and
    password to browse them; scripts send `Authorization: Bearer <token>` from `/api/auth/token`.
    """

    # A list of links and nothing else: anyone may read it, so that a browser shows the page
    # with its "Log in" link rather than a bare 401.
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        def link(name: str) -> str:
            return request.build_absolute_uri(reverse(name))

        return Response(
            {
                "me": link("auth-me"),
                "conversations": link("conversation-list"),
                "search": link("conversation-search") + "?q=",
                "agents": link("agent-list"),
                "tools": link("agent-tools"),
                "sessions": link("session-list"),
                "providers": link("providers-list"),
                "providers_health": link("providers-health"),
                "providers_models": link("providers-models"),
                "routing_rules": link("routing:rules"),
                "routing_explain": link("routing-explain"),
                "memory_insights": link("memory:insights"),
                "memory_search": link("memory:insight-search") + "?q=",
                "memory_preferences": link("memory:preferences"),
                "memory_settings": link("memory:settings"),
                "admin_jobs": link("jobs:runs"),
                "schema": link("schema"),
                "docs": link("api-docs"),
                "chat_socket": request.build_absolute_uri("/ws/chat/").replace("http", "ws", 1),
            }
        )


admin.site.site_header = "Mosaic administration"
admin.site.site_title = "Mosaic admin"
admin.site.index_title = "Mosaic"
# Django's app sidebar takes 300 px beside every list, which clips the last columns of the
# changelists (routing rules' "route to", agents' "updated") at 1280 px. Home and the
# breadcrumbs link every app.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/", ApiRoot.as_view(), name="api-root"),
    path("api/auth/token", TokenIssueApi.as_view(), name="auth-token"),
    path("api/auth/me", MeApi.as_view(), name="auth-me"),
    path("api/", include("conversations.urls")),
    path("api/", include("agents.urls")),
    path("api/routing/", include("routing.urls")),
    path("api/", include("providers.urls")),
    path("api/memory/", include("memory.urls")),
    path("api/", include("jobs.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("mosaic.web.urls")),
]
