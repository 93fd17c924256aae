"""Conversations with messages, written through the services as the app writes them."""

from __future__ import annotations

from typing import Any

from conversations import services
from conversations.models import Conversation


def conversation_with(user: Any, *texts: str, title: str = "") -> Conversation:
    conversation = services.conversation_create(user=user, title=title)
    for index, text in enumerate(texts):
        services.message_persist_user(
            user=user, conversation_id=conversation.pk, content=text, client_id=f"c{index}"
        )
    return conversation
