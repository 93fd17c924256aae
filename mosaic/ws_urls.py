"""WebSocket URL routes (named ws_urls, not routing, which is the routing app)."""

from django.urls import path

from agents.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
]
