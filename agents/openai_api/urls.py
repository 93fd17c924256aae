"""``/v1/``: the OpenAI-compatible endpoint (docs/openai-api.md)."""

from django.urls import path

from agents.openai_api import views

app_name = "openai"

urlpatterns = [
    path("chat/completions", views.chat_completions, name="chat-completions"),
    path("models", views.models, name="models"),
]
