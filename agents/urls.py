from django.urls import path

from agents import api

urlpatterns = [
    path("agents", api.AgentListApi.as_view(), name="agent-list"),
    path("agents/tools", api.ToolListApi.as_view(), name="agent-tools"),
    path("agents/<str:agent_id>", api.AgentDetailApi.as_view(), name="agent-detail"),
    path("sessions", api.SessionListApi.as_view(), name="session-list"),
    path("sessions/<str:session_id>", api.SessionDetailApi.as_view(), name="session-detail"),
    # Routing's explain box needs the agent's declared capabilities, which this app owns.
    path("routing/explain", api.RoutingExplainApi.as_view(), name="routing-explain"),
]
