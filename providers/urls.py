"""Routes of the providers API; mounted by the project with ``path("api/", include(...))``."""

from django.urls import path

from providers import api

urlpatterns = [
    path("providers", api.ProviderListApi.as_view(), name="providers-list"),
    path("providers/health", api.ProviderHealthApi.as_view(), name="providers-health"),
    path("providers/models", api.ProviderModelsApi.as_view(), name="providers-models"),
    path(
        "providers/oauth/callback",
        api.OAuthCallbackApi.as_view(),
        name="providers-oauth-callback",
    ),
    path(
        "providers/oauth/<str:provider>/start",
        api.OAuthStartApi.as_view(),
        name="providers-oauth-start",
    ),
    path(
        "providers/oauth/<str:provider>/complete",
        api.OAuthCompleteApi.as_view(),
        name="providers-oauth-complete",
    ),
    path(
        "providers/oauth/<str:provider>/device",
        api.OAuthDeviceStartApi.as_view(),
        name="providers-oauth-device",
    ),
    path(
        "providers/oauth/<str:provider>/device/poll",
        api.OAuthDevicePollApi.as_view(),
        name="providers-oauth-device-poll",
    ),
    path("providers/<uuid:id>", api.ProviderDetailApi.as_view(), name="providers-detail"),
    path("providers/<uuid:id>/test", api.ProviderTestApi.as_view(), name="providers-test"),
]
