from django.urls import path

from agents import api

urlpatterns = [
    path("agents", api.AgentListApi.as_view(), name="agent-list"),
    path("agents/<uuid:agent_id>", api.AgentDetailApi.as_view(), name="agent-detail"),
    path("sessions", api.SessionListApi.as_view(), name="session-list"),
]
