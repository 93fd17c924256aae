from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mosaic.accounts.api import MeApi, TokenIssueApi


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/auth/token", TokenIssueApi.as_view(), name="auth-token"),
    path("api/auth/me", MeApi.as_view(), name="auth-me"),
    path("api/", include("conversations.urls")),
    path("api/", include("agents.urls")),
    path("api/routing/", include("routing.urls")),
    path("api/", include("providers.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
]
