"""Which conversation a Chat Completions call belongs to, and what of its messages is new.

The rule (docs/openai-api.md, "Conversations"):

- A call names a conversation with the ``X-Mosaic-Conversation-Id`` header, or with the
  ``user`` field set to that id. The conversation must be the caller's (another user's, or an
  unknown id, is a 404). Its stored messages are the model's context, so a client that resends
  the whole history adds only what follows the last ``assistant`` message it sends: the new user
  message, or the results of the tools the model asked it to run.
- A call that names none starts a new conversation holding every message it sends (system
  messages excepted: they are the call's instructions, added to the agent's prompt, and are
  not stored). Its id comes back in ``X-Mosaic-Conversation-Id``.

The model is checked before anything is written: an unknown model or agent stores nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from agents import selectors as agent_selectors
from agents.openai_api import errors
from agents.openai_api.wire import CompletionRequest, InMessage, invalid
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.models import Message
from conversations.services import MessageDraft
from core.errors import InvalidInput, NotFound, TooLarge
from routing.rules import validate_model_ref

if TYPE_CHECKING:
    from django.contrib.auth.models import User

AUTO = "auto"
AGENT_PREFIX = "agent:"


@dataclass(frozen=True)
class Intake:
    conversation_id: uuid.UUID
    agent: str | None  # the agent asked for (``agent:<slug>``), else the conversation's
    model: str | None  # "provider:model" when pinned, None for routing
    post: str | None  # the new user message, or None when the call brings tool results


@dataclass(frozen=True)
class ModelChoice:
    agent: str | None
    model: str | None


def choose_model(*, user: User, model: str) -> ModelChoice:
    """``auto``, ``agent:<slug>`` or a model (``provider:model`` or a catalog id)."""
    if model == AUTO:
        return ModelChoice(None, None)
    if model.startswith(AGENT_PREFIX):
        slug = model.removeprefix(AGENT_PREFIX)
        try:
            agent_selectors.agent_get(user=user, slug=slug)
        except NotFound as exc:
            raise errors.model_not_found(model, exc.message) from exc
        return ModelChoice(slug, None)
    try:
        provider, name = validate_model_ref(model)
    except InvalidInput as exc:
        raise errors.model_not_found(model, exc.message) from exc
    return ModelChoice(None, f"{provider}:{name}")


def named_conversation(header: str, request: CompletionRequest) -> str | None:
    """The conversation id the call names: the header, else a ``user`` field that is an id."""
    if header.strip():
        return header.strip()
    try:
        return str(uuid.UUID(request.user))
    except ValueError:
        return None


def take_in(*, user: User, request: CompletionRequest, conversation_header: str) -> Intake:
    choice = choose_model(user=user, model=request.model)
    messages = request.conversation_messages
    if not messages:
        raise invalid("messages", "'messages' must include a user message.")
    if messages[-1].role not in ("user", "tool"):
        raise invalid(
            f"messages[{len(request.messages) - 1}].role",
            "The last message must be from the user or a tool result.",
        )
    named = named_conversation(conversation_header, request)
    with transaction.atomic():
        if named is not None:
            try:
                conversation = conversation_selectors.conversation_get(
                    user=user, conversation_id=named
                )
            except NotFound as exc:
                raise errors.conversation_not_found() from exc
            new = _after_last_reply(messages)
        else:
            agent = agent_selectors.agent_for_conversation(
                user=user, requested=choice.agent, stored=""
            )
            first = next((m.content for m in messages if m.role == "user"), "")
            conversation = conversation_services.conversation_create(
                user=user, title=" ".join(first.split()), agent_slug=agent.slug
            )
            new = messages
        _check_sizes(new)
        post = new[-1].content if new[-1].role == "user" else None
        stored = new[:-1] if post is not None else new
        conversation_services.messages_append(
            user=user, conversation_id=conversation.pk, drafts=_drafts(stored, messages)
        )
    return Intake(conversation.pk, choice.agent, choice.model, post)


def _after_last_reply(messages: list[InMessage]) -> list[InMessage]:
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    return messages[last + 1 :]


def _check_sizes(messages: list[InMessage]) -> None:
    limit = settings.MOSAIC_MAX_MESSAGE_BYTES
    for message in messages:
        if len(message.content.encode("utf-8", "surrogatepass")) > limit:
            raise TooLarge(f"A message is larger than the {limit // 1024} KB limit.")


def _drafts(new: list[InMessage], every: list[InMessage]) -> list[MessageDraft]:
    names = {call.call_id: call.name for m in every for call in m.tool_calls}
    drafts: list[MessageDraft] = []
    for message in new:
        if message.role == "user":
            drafts.append(MessageDraft(role=Message.Role.USER, content=message.content))
        elif message.role == "assistant":
            if message.content or not message.tool_calls:
                drafts.append(MessageDraft(role=Message.Role.ASSISTANT, content=message.content))
            drafts.extend(
                MessageDraft(
                    role=Message.Role.TOOL_CALL,
                    tool_call_id=call.call_id,
                    tool_name=call.name,
                    tool_arguments=call.arguments,
                )
                for call in message.tool_calls
            )
        elif message.role == "tool":
            drafts.append(
                MessageDraft(
                    role=Message.Role.TOOL_RESULT,
                    content=message.content,
                    tool_call_id=message.tool_call_id,
                    tool_name=names.get(message.tool_call_id, ""),
                )
            )
    return drafts
