"""Routing API, mounted by the project at ``api/routing/``."""

from django.urls import path

from routing import api

app_name = "routing"

urlpatterns = [
    path("rules", api.RuleListCreateApi.as_view(), name="rules"),
    path("rules/reorder", api.RuleReorderApi.as_view(), name="rules-reorder"),
    path("rules/<int:rule_id>", api.RuleDetailApi.as_view(), name="rule-detail"),
]
