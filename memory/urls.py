from django.urls import path

from memory import api

app_name = "memory"

urlpatterns = [
    path("insights", api.InsightListApi.as_view(), name="insights"),
    path("insights/search", api.InsightSearchApi.as_view(), name="insight-search"),
    path("insights/<str:insight_id>", api.InsightDetailApi.as_view(), name="insight-detail"),
    path("preferences", api.PreferenceListApi.as_view(), name="preferences"),
    path("preferences/<str:key>", api.PreferenceDetailApi.as_view(), name="preference-detail"),
    path("settings", api.SettingsApi.as_view(), name="settings"),
]
