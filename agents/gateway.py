"""The chat turn and the socket session, top to bottom (ARCHITECTURE.md, "One chat turn").

``ChatConsumer`` parses frames and calls the functions here; they call services and selectors
(in one place each through ``database_sync_to_async``), the routing engine, and the runtime, and
send frames to this socket (``ChatSession.send``) or to every socket on the conversation
(``broadcast``, through the Redis channel layer, so sockets on other processes see them too).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from agents import live, selectors, services
from agents.models import AgentConfig
from agents.protocol import (
    CommandExecute,
    ConversationHistory,
    ConversationOpen,
    MessageDone,
    MessagePayload,
    MessageSend,
    RoutingInfo,
    SessionInfo,
    error_frame,
)
from agents.runtime import StepOutput, ToolOutcome, TurnFailed, TurnPlan, run_turn
from agents.tools import ToolContext, all_tools
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.context import SUMMARY_PROMPT, build_context, context_usage
from conversations.models import Conversation, Message
from conversations.selectors import ContextRow
from conversations.services import MessageDraft
from core.errors import Conflict, MosaicError
from providers import catalog
from providers.adapters.base import ChatMessage, ChatRequest, ErrorKind, ProviderError, TextDelta
from providers.registry import get_adapter
from routing.classifier import Classification, ClassifierContext, classify
from routing.engine import AgentProfile, RoutingDecision, SessionRouting

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.gateway")
timing_logger = logging.getLogger("mosaic.gateway.timing")

HISTORY_LIMIT = 200
TURN_WAIT_SECONDS = 30.0
DEFAULT_WINDOW = 128_000
OLLAMA_UNKNOWN_WINDOW = 8_192

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class AgentView:
    """The parts of an AgentConfig a turn needs, loaded once per session or switch."""

    slug: str
    name: str
    system_prompt: str
    tool_allowlist: tuple[str, ...]
    default_model: str  # "provider:model" or ""
    domains: tuple[str, ...]
    preferred_models: tuple[str, ...]

    @classmethod
    def of(cls, agent: AgentConfig) -> AgentView:
        caps = agent.capabilities or {}
        default = f"{agent.default_provider}:{agent.default_model}" if agent.default_model else ""
        return cls(
            slug=agent.slug,
            name=agent.name,
            system_prompt=agent.system_prompt,
            tool_allowlist=tuple(agent.tool_allowlist or ()),
            default_model=default,
            domains=tuple(caps.get("domains", ())),
            preferred_models=tuple(caps.get("preferred_models", ())),
        )

    def profile(self) -> AgentProfile:
        return AgentProfile(
            slug=self.slug,
            domains=self.domains,
            preferred_models=self.preferred_models,
            default_model=self.default_model,
        )


@dataclass
class ChatSession:
    """One socket's state. The turn task outlives the socket: a reply keeps streaming to the
    conversation's other sockets (and into the database) if this one drops."""

    user: User
    channel_name: str
    send: Send
    session_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    agent: AgentView | None = None
    model_override: str = ""
    provider: str = ""
    model: str = ""
    routing: RoutingInfo | None = None
    context_tokens: int = 0
    connected: bool = True
    turn_task: asyncio.Task[None] | None = None
    # Delivery bookkeeping for a socket that joined mid-turn: which turn's deltas it has seen up
    # to which index, and which messages it already has complete (from the history).
    seen_turn: str = ""
    seen_index: int = 0
    known_ids: set[str] = field(default_factory=set)

    @property
    def group(self) -> str:
        return live.group_name(self.user.pk, self.conversation_id)


# --- sending -------------------------------------------------------------------------------------


async def broadcast(chat: ChatSession, frame: dict[str, Any], *, skip_origin: bool = False) -> None:
    """Send a conversation event to every socket on it: this one directly (no Redis round trip on
    the hot path), the others through the channel layer."""
    if not skip_origin:
        await send_here(chat, frame)
    await publish(chat, frame)


async def send_here(chat: ChatSession, frame: dict[str, Any]) -> None:
    if not chat.connected:
        return  # the socket that started the turn left; the turn goes on for the others
    try:
        await chat.send(frame)
    except Exception:  # a socket closing under us is not the turn's problem
        chat.connected = False


async def publish(
    chat: ChatSession, frame: dict[str, Any], *, turn: str = "", index: int = 0
) -> None:
    """To the conversation's other sockets, on any process (this one skips its own events)."""
    layer = get_channel_layer()
    assert layer is not None
    event = {
        "type": "chat.event",
        "frame": frame,
        "turn": turn,
        "index": index,
        "origin": chat.channel_name,
    }
    await layer.group_send(chat.group, event)


async def deliver(chat: ChatSession, event: dict[str, Any]) -> None:
    """Forward a conversation event to this socket, without repeats for a socket that joined late."""
    if event.get("origin") == chat.channel_name:
        return
    frame = event["frame"]
    turn, index = event.get("turn", ""), event.get("index", 0)
    if index:
        if turn == chat.seen_turn and index <= chat.seen_index:
            return  # already replayed from the live buffer
        chat.seen_turn, chat.seen_index = turn, index
    if frame.get("message_id") in chat.known_ids and frame["type"] != "message:done":
        return  # already in the history this socket received
    await chat.send(frame)


# --- opening a conversation ----------------------------------------------------------------------


@dataclass
class _OpenState:
    conversation: Conversation
    agent: AgentConfig
    session_id: uuid.UUID
    history: list[Message]
    message_count: int
    context_tokens: int


def _open_state(user: User, frame: ConversationOpen, chat: ChatSession) -> _OpenState:
    if frame.conversation_id is not None:
        conversation = conversation_selectors.conversation_get(
            user=user, conversation_id=frame.conversation_id
        )
    else:
        conversation = conversation_services.conversation_create(
            user=user, agent_slug=frame.agent or ""
        )
    agent = selectors.agent_for_conversation(
        user=user, requested=frame.agent, stored=conversation.agent_slug
    )
    if chat.session_id is None:
        session = services.session_start(
            user=user,
            conversation_id=conversation.pk,
            agent_slug=agent.slug,
            model_override=chat.model_override,
        )
    else:
        session = services.session_rebind(
            user=user,
            session=selectors.session_get(user=user, session_id=chat.session_id),
            conversation_id=conversation.pk,
            agent_slug=agent.slug,
        )
    conversation_services.conversation_bind(
        user=user, conversation_id=conversation.pk, session_id=session.pk, agent_slug=agent.slug
    )
    rows = conversation_selectors.message_list(user=user, conversation_id=conversation.pk)
    history = list(reversed(rows.defer("search_vector").order_by("-sequence")[:HISTORY_LIMIT]))
    message_count, context_tokens = context_usage(
        user=user, conversation_id=conversation.pk, system_prompt=agent.system_prompt
    )
    return _OpenState(conversation, agent, session.pk, history, message_count, context_tokens)


async def open_conversation(chat: ChatSession, frame: ConversationOpen) -> None:
    if (
        chat.turn_task is not None
        and not chat.turn_task.done()
        and chat.conversation_id != frame.conversation_id
    ):
        raise Conflict(
            "A reply is still being generated; cancel it before switching conversations."
        )
    if frame.model:
        provider, model = await database_sync_to_async(_validate_model)(frame.model)
        chat.model_override = f"{provider}:{model}"
    state = await database_sync_to_async(_open_state)(chat.user, frame, chat)
    layer = get_channel_layer()
    assert layer is not None
    if chat.conversation_id is not None and chat.conversation_id != state.conversation.pk:
        await layer.group_discard(chat.group, chat.channel_name)
    chat.conversation_id = state.conversation.pk
    chat.session_id = state.session_id
    chat.agent = AgentView.of(state.agent)
    # Join first, then read the live buffer: every delta is either in the snapshot or arrives
    # through the group afterwards (``deliver`` drops the overlap by index).
    await layer.group_add(chat.group, chat.channel_name)
    turn, snapshot = await live.live_snapshot(chat.user.pk, chat.conversation_id)
    chat.known_ids = {str(m.id) for m in state.history if m.status != Message.Status.STREAMING}
    chat.seen_turn, chat.seen_index = turn, len(snapshot)
    chat.context_tokens = state.context_tokens
    _predict_model(chat)
    await chat.send(dict(session_info(chat)))
    window = _window(chat.provider, chat.model)
    history: ConversationHistory = {
        "type": "conversation:history",
        "conversation_id": str(chat.conversation_id),
        "title": state.conversation.title,
        "messages": [message_payload(m) for m in state.history],
        "message_count": state.message_count,
        "has_more": state.message_count > len(state.history),
        "context_tokens": state.context_tokens,
        "context_window": window,
    }
    await chat.send(dict(history))
    for replay in _replay(snapshot, chat.known_ids):
        await chat.send(replay)


def _replay(snapshot: list[dict[str, Any]], known: set[str]) -> list[dict[str, Any]]:
    """The text and thinking streamed so far for messages not yet stored, one frame each."""
    merged: dict[tuple[str, str], list[str]] = {}
    for frame in snapshot:
        if frame["message_id"] not in known:
            merged.setdefault((frame["type"], frame["message_id"]), []).append(frame["text"])
    return [
        {"type": kind, "message_id": mid, "text": "".join(parts)}
        for (kind, mid), parts in merged.items()
    ]


def _predict_model(chat: ChatSession) -> None:
    """What the session will use before routing has decided anything (for session:info)."""
    if chat.provider:
        return
    ref = (
        chat.model_override
        or (chat.agent.default_model if chat.agent else "")
        or settings.MOSAIC_DEFAULT_MODEL
    )
    chat.provider, _, chat.model = ref.partition(":")


def session_info(chat: ChatSession) -> SessionInfo:
    return {
        "type": "session:info",
        "session_id": str(chat.session_id),
        "conversation_id": str(chat.conversation_id),
        "agent": chat.agent.slug if chat.agent else "",
        "provider": chat.provider,
        "model": chat.model,
        "model_override": chat.model_override,
        "routing": chat.routing,
    }


def message_payload(message: Message) -> MessagePayload:
    payload: MessagePayload = {
        "id": str(message.id),
        "sequence": message.sequence,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
    }
    if message.client_id:
        payload["client_id"] = message.client_id
    if message.role in (Message.Role.TOOL_CALL, Message.Role.TOOL_RESULT):
        payload["tool_call_id"] = message.tool_call_id
        payload["tool_name"] = message.tool_name
        payload["tool_arguments"] = message.tool_arguments
        payload["is_error"] = message.is_error
    if message.provider:
        payload["provider"] = message.provider
        payload["model"] = message.model
        payload["latency_ms"] = message.latency_ms
        if message.input_tokens is not None:
            payload["usage"] = {
                "input_tokens": message.input_tokens or 0,
                "output_tokens": message.output_tokens or 0,
            }
    if message.routing:
        payload["routing"] = dict(routing_info_from_dict(message.routing))
    if message.role == Message.Role.CHECKPOINT:
        payload["covers"] = [message.covers_from or 0, message.covers_to or 0]
    return payload


def _supports_reasoning(provider: str, model: str) -> bool:
    spec = catalog.get_spec(provider, model)
    return bool(spec and spec.reasoning)


def _window(provider: str, model: str) -> int:
    spec = catalog.get_spec(provider, model)
    if spec is not None:
        return spec.context_window
    # An unknown local model may have a small window, and Ollama truncates silently.
    return OLLAMA_UNKNOWN_WINDOW if provider == "ollama" else DEFAULT_WINDOW


# --- one chat turn -------------------------------------------------------------------------------


async def handle_user_message(chat: ChatSession, frame: MessageSend) -> None:
    """Persist the user's message first; then route, build context and run the turn in a task."""
    received = time.monotonic()
    if chat.conversation_id is None:
        raise MosaicError("Open a conversation first (send conversation:open).")
    if len(frame.content.encode("utf-8", "surrogatepass")) > settings.MOSAIC_MAX_MESSAGE_BYTES:
        raise MosaicError(
            f"The message is larger than the {settings.MOSAIC_MAX_MESSAGE_BYTES // 1024} KB limit."
        )

    # 1. persist the user message (idempotent on client_id) — before anything else can fail
    message, created = await persist_user_message(chat, frame)
    persisted = time.monotonic()
    await chat.send(
        {
            "type": "message:ack",
            "client_id": frame.client_id,
            "message_id": str(message.id),
            "duplicate": not created,
        }
    )
    if created:
        chat.known_ids.add(str(message.id))
        await broadcast(
            chat, {"type": "message:created", "message": message_payload(message)}, skip_origin=True
        )
    elif await _already_answered(chat, message):
        return  # a resend of a message whose turn ran or is running: nothing more to do

    turn_id = uuid.uuid4().hex
    if not await _wait_for_turn_slot(chat, turn_id):
        raise Conflict(
            "Another reply is still being generated in this conversation; your message is saved."
        )
    chat.turn_task = asyncio.create_task(
        _run_turn_task(chat, message, turn_id, received, persisted)
    )


async def _wait_for_turn_slot(chat: ChatSession, turn_id: str) -> bool:
    """One turn at a time per conversation: wait for the previous one (ours finishes its
    bookkeeping just after message:done; another device's may take longer), then take the slot."""
    deadline = time.monotonic() + TURN_WAIT_SECONDS
    while True:
        if chat.turn_task is not None and not chat.turn_task.done():
            await asyncio.wait({chat.turn_task}, timeout=max(0.0, deadline - time.monotonic()))
        if await live.turn_acquire(chat.user.pk, chat.conversation_id, turn_id):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def persist_user_message(chat: ChatSession, frame: MessageSend) -> tuple[Message, bool]:
    result: tuple[Message, bool] = await database_sync_to_async(
        conversation_services.message_persist_user
    )(
        user=chat.user,
        conversation_id=chat.conversation_id,
        content=frame.content,
        client_id=frame.client_id,
    )
    return result


async def _already_answered(chat: ChatSession, message: Message) -> bool:
    if await live.turn_running(chat.user.pk, chat.conversation_id):
        return True
    return bool(
        await database_sync_to_async(conversation_selectors.has_reply_after)(
            user=chat.user, message=message
        )
    )


async def _run_turn_task(
    chat: ChatSession, message: Message, turn_id: str, started: float, persisted: float
) -> None:
    sink = GatewaySink(chat, turn_id, started)
    sink.marks.append(("persisted", persisted))
    heartbeat = asyncio.create_task(
        live.turn_heartbeat(chat.user.pk, chat.conversation_id, turn_id)
    )
    try:
        await run_chat_turn(chat, message, sink, started)
    except asyncio.CancelledError:
        await asyncio.shield(sink.finish("cancelled", started))
    except Exception:
        logger.exception("turn %s in conversation %s failed", turn_id, chat.conversation_id)
        frame = error_frame(
            "internal", "Something went wrong on the server; your message is saved.", retryable=True
        )
        await asyncio.shield(sink.emit(dict(frame)))
        await asyncio.shield(sink.finish("failed", started))
    finally:
        heartbeat.cancel()
        await asyncio.shield(live.turn_release(chat.user.pk, chat.conversation_id, turn_id))


async def run_chat_turn(
    chat: ChatSession, message: Message, sink: GatewaySink, started: float
) -> None:
    # 2. classify (pure, < 1 ms)
    classification = classify_message(chat, message)
    # 3. route (rules and health from cache; no network)
    decision = await resolve_route(chat, classification)
    sink.mark("routed")
    # 4. tell every socket which model will answer and why, while the database is read
    inputs, _ = await asyncio.gather(
        database_sync_to_async(load_turn_inputs)(
            chat.user, chat.conversation_id, decision.provider
        ),
        announce_route(chat, decision),
    )
    sink.mark("loaded")
    # 5. context: system prompt + checkpoint + recent messages, within the model's window
    agent = await agent_for_turn(chat, decision)
    system_prompt = decision.system_prompt_override or agent.system_prompt
    context = await build_context(
        user=chat.user,
        conversation_id=chat.conversation_id,
        system_prompt=system_prompt,
        window=_window(decision.provider, decision.model),
        summarise=lambda text: summarise_with_cheap_model(chat, text),
        loaded=(inputs.checkpoint, inputs.rows),
    )
    chat.context_tokens = context.tokens
    sink.mark("context")
    # 6. run the model and its tools; 7. on failure before the first token, fail over
    tools = _allowed_tools(agent, decision)
    wants_reasoning = "reasoning" in classification.capabilities
    context_for_tools = ToolContext(
        user=chat.user, conversation_id=str(chat.conversation_id), session_id=str(chat.session_id)
    )
    while True:
        sink.decision = decision
        plan = TurnPlan(
            provider=decision.provider,
            model=decision.model,
            system_prompt=context.system,
            tools=tools,
            max_steps=settings.MOSAIC_AGENT_MAX_TURNS,
            timeout=settings.MOSAIC_PROVIDER_TIMEOUT,
            reasoning=wants_reasoning and _supports_reasoning(decision.provider, decision.model),
        )
        try:
            credential = inputs.credential_for(decision.provider) or await _credential(
                chat.user, decision.provider
            )
            outcome = await run_turn(
                plan=plan,
                history=context.messages,
                adapter=get_adapter(decision.provider),
                credential=credential,
                context=context_for_tools,
                sink=sink,
            )
        except TurnFailed as failure:
            next_decision = None if failure.started else _failover(decision, failure.error)
            if next_decision is None:
                await sink.emit(_provider_error_frame(failure.error, decision))
                await sink.finish("failed", started)
                return
            logger.warning("failover: %s", next_decision.reason)
            decision = next_decision
            await announce_route(chat, decision)
            continue
        break
    if outcome.hit_step_limit:
        await sink.note(
            f"Stopped after {outcome.steps} model calls (the turn limit, MOSAIC_AGENT_MAX_TURNS)."
        )
    # 8. message:done with usage; metrics; the decision stored with the answer
    await sink.finish("complete", started)


@dataclass
class TurnInputs:
    """What a turn reads from the database before it can call the model, in one round trip."""

    checkpoint: Message | None
    rows: list[ContextRow]
    provider: str
    credential: Any = None
    credential_error: ProviderError | None = None

    def credential_for(self, provider: str) -> Any:
        """The preloaded credential if it is for ``provider`` (a failover needs another)."""
        if provider != self.provider:
            return None
        if self.credential_error is not None:
            raise TurnFailed(self.credential_error, started=False) from self.credential_error
        return self.credential


def load_turn_inputs(user: User, conversation_id: Any, provider: str) -> TurnInputs:
    from providers.services import resolve_credential

    checkpoint, rows = conversation_selectors.context_messages(
        user=user, conversation_id=conversation_id
    )
    inputs = TurnInputs(checkpoint=checkpoint, rows=rows, provider=provider)
    try:
        inputs.credential = resolve_credential(user=user, provider=provider)
    except ProviderError as error:
        inputs.credential_error = error
    return inputs


async def agent_for_turn(chat: ChatSession, decision: RoutingDecision) -> AgentView:
    """The session's agent, or the one a routing rule asks for (for this turn only)."""
    assert chat.agent is not None
    if not decision.agent or decision.agent == chat.agent.slug:
        return chat.agent
    try:
        agent = await database_sync_to_async(selectors.agent_get)(
            user=chat.user, slug=decision.agent
        )
    except MosaicError:
        logger.warning(
            "rule %r names agent %r, which %s cannot use", decision.rule, decision.agent, chat.user
        )
        return chat.agent
    return AgentView.of(agent)


def classify_message(chat: ChatSession, message: Message) -> Classification:
    return classify(
        message.content,
        ClassifierContext(conversation_tokens=chat.context_tokens, message_count=message.sequence),
    )


async def resolve_route(chat: ChatSession, classification: Classification) -> RoutingDecision:
    from routing.engine import aresolve

    session = SessionRouting(
        model_override=chat.model_override, agent=chat.agent.profile() if chat.agent else None
    )
    return await aresolve(classification, user=chat.user, session=session)


async def announce_route(chat: ChatSession, decision: RoutingDecision) -> None:
    chat.provider, chat.model = decision.provider, decision.model
    chat.routing = routing_info(decision)
    await broadcast(chat, dict(session_info(chat)))


def routing_info(decision: RoutingDecision) -> RoutingInfo:
    return routing_info_from_dict(decision.to_dict())


def routing_info_from_dict(data: dict[str, Any]) -> RoutingInfo:
    """The socket's shape of a decision, from the full record stored with the message."""
    return {
        "rule": data.get("rule"),
        "reason": data.get("reason", ""),
        "classification": data.get("classification"),
        "fallbacks": [f"{c['provider']}:{c['model']}" for c in data.get("fallbacks", [])],
        "override": bool(data.get("override")),
        "failover": bool(data.get("failover")),
        "skipped": data.get("candidates_skipped", []),
    }


def _allowed_tools(agent: AgentView, decision: RoutingDecision) -> list[Any]:
    names = set(agent.tool_allowlist)
    if decision.tool_allowlist is not None:
        names &= set(decision.tool_allowlist)  # a rule may narrow the agent's tools, never widen
    tools = all_tools()
    return [tools[name] for name in sorted(names) if name in tools]


async def _credential(user: User, provider: str) -> Any:
    """The user's credential for ``provider``; a failure (a revoked OAuth token, a refresh that
    cannot happen now) is a provider failure before the first token, so routing fails over."""
    from providers.services import aresolve_credential

    try:
        return await aresolve_credential(user=user, provider=provider)
    except ProviderError as error:
        raise TurnFailed(error, started=False) from error


def _failover(decision: RoutingDecision, error: ProviderError) -> RoutingDecision | None:
    # Auth and outage failures hit the whole provider: skip its other models too.
    provider_wide = error.kind in (ErrorKind.AUTH, ErrorKind.UNAVAILABLE)
    return decision.failover(error.kind.value, avoid_provider=provider_wide)


def _provider_error_frame(error: ProviderError, decision: RoutingDecision) -> dict[str, Any]:
    where = f"{decision.provider}:{decision.model}"
    message = f"{where} failed: {error.message}"
    if error.retry_after:
        message += f" (retry after {error.retry_after:.0f} s)"
    return dict(error_frame(f"provider_{error.kind.value}", message, retryable=error.retryable))


async def summarise_with_cheap_model(chat: ChatSession, text: str) -> str:
    """Summarise with routing's choice for a summarisation, failing over down its chain.

    Raises when no candidate answers; the caller then truncates instead.
    """
    from routing.engine import aresolve

    classification = classify("Summarize this conversation.")
    decision: RoutingDecision | None = await aresolve(
        classification, user=chat.user, session=SessionRouting(model_override="", agent=None)
    )
    last_error: ProviderError | None = None
    while decision is not None:
        request = ChatRequest(
            model=decision.model,
            system=SUMMARY_PROMPT,
            messages=[ChatMessage(role="user", content=text)],
            timeout=settings.MOSAIC_PROVIDER_TIMEOUT,
        )
        try:
            credential = await _credential(chat.user, decision.provider)
            adapter = get_adapter(decision.provider)
            parts = [
                e.text
                async for e in adapter.stream(request, credential)
                if isinstance(e, TextDelta)
            ]
        except ProviderError as error:
            last_error = error
            decision = _failover(decision, error)
            continue
        return "".join(parts)
    raise last_error or RuntimeError("no model could summarise")


def _validate_model(ref: str) -> tuple[str, str]:
    from routing.rules import validate_model_ref

    return validate_model_ref(ref)


# --- the sink: persistence and relay of the runtime's events -------------------------------------


class DeltaRelay:
    """Relays a turn's deltas in order without making the provider's stream wait on Redis.

    Each delta goes to this socket at once; one task then writes it to the live buffer (for
    sockets that join mid-stream) and publishes it to the conversation's other sockets. When
    Redis is slower than the provider, the deltas that piled up are merged into one frame per
    message, so the cost per token stays flat under load. ``drain`` waits until everything
    queued has gone out (called before any other event of the turn, which keeps the order on
    every socket).
    """

    def __init__(self, chat: ChatSession, turn_id: str) -> None:
        self.chat = chat
        self.turn_id = turn_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def push(self, frame: dict[str, Any]) -> None:
        await send_here(self.chat, frame)
        if self.task is None:
            self.task = asyncio.create_task(self._run())
        self.queue.put_nowait(frame)

    async def drain(self) -> None:
        if self.task is not None:
            await self.queue.join()

    async def close(self) -> None:
        if self.task is not None:
            await self.drain()
            self.task.cancel()

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                for frame in _merge_deltas(batch):
                    index = await live.live_append(
                        self.chat.user.pk, self.chat.conversation_id, frame
                    )
                    await publish(self.chat, frame, turn=self.turn_id, index=index)
            except Exception:
                logger.exception("relaying deltas of turn %s failed", self.turn_id)
            finally:
                for _ in batch:
                    self.queue.task_done()


def _merge_deltas(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: list[dict[str, Any]] = []
    for frame in frames:
        last = merged[-1] if merged else None
        if last is not None and (last["type"], last["message_id"]) == (
            frame["type"],
            frame["message_id"],
        ):
            last["text"] += frame["text"]
        else:
            merged.append(dict(frame))
    return merged


class GatewaySink:
    """Receives the runtime's events: relays deltas at once, writes each message once."""

    def __init__(self, chat: ChatSession, turn_id: str, started: float) -> None:
        self.chat = chat
        self.turn_id = turn_id
        self.relay = DeltaRelay(chat, turn_id)
        self.decision: RoutingDecision | None = None
        self.last_message_id: uuid.UUID | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.finished = False
        self.started = started
        self.streaming = False
        self.marks: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        """Record when a step of the turn finished (logged at DEBUG, for finding slow steps)."""
        self.marks.append((name, time.monotonic()))

    async def emit(self, frame: dict[str, Any]) -> None:
        """Broadcast a frame after every delta queued before it."""
        await self.relay.drain()
        await broadcast(self.chat, frame)

    async def text_delta(self, message_id: uuid.UUID, text: str) -> None:
        if not self.streaming:
            self.streaming = True
            self.mark("first_token")
        await self.relay.push(
            {"type": "message:delta", "message_id": str(message_id), "text": text}
        )

    async def thinking_delta(self, message_id: uuid.UUID, text: str) -> None:
        await self.relay.push(
            {"type": "thinking:delta", "message_id": str(message_id), "text": text}
        )

    async def step_finished(self, step: StepOutput, status: str) -> None:
        await self.relay.drain()
        decision = self.decision
        assert decision is not None
        self.input_tokens += step.input_tokens
        self.output_tokens += step.output_tokens
        drafts: list[MessageDraft] = []
        provider, model = decision.provider, decision.model
        if step.thinking:
            drafts.append(
                MessageDraft(
                    id=step.thinking_id,
                    role=Message.Role.THINKING,
                    content=step.thinking_content,
                    status=status,
                    metadata={
                        "blocks": [{"text": t, "signature": s} for t, s in step.thinking_blocks]
                    },
                    provider=provider,
                    model=model,
                )
            )
        if step.text or not step.tool_calls:
            drafts.append(
                MessageDraft(
                    id=step.text_id,
                    role=Message.Role.ASSISTANT,
                    content=step.text_content,
                    status=status,
                    input_tokens=step.input_tokens,
                    output_tokens=step.output_tokens,
                    latency_ms=step.latency_ms,
                    routing=decision.to_dict(),
                    metadata={"stop_reason": step.stop_reason},
                    provider=provider,
                    model=model,
                )
            )
            self.last_message_id = step.text_id
        call_drafts = [
            MessageDraft(
                role=Message.Role.TOOL_CALL,
                tool_call_id=call.call_id,
                tool_name=call.name,
                tool_arguments=call.arguments,
                status=status,
                provider=provider,
                model=model,
            )
            for call in step.tool_calls
        ]
        rows = await database_sync_to_async(conversation_services.messages_append)(
            user=self.chat.user,
            conversation_id=self.chat.conversation_id,
            drafts=drafts + call_drafts,
        )
        if self.last_message_id is None and rows:
            self.last_message_id = rows[-1].id
        for draft, call in zip(call_drafts, step.tool_calls, strict=True):
            await broadcast(
                self.chat,
                {
                    "type": "tool:call",
                    "message_id": str(draft.id),
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
            )

    async def tool_finished(self, outcome: ToolOutcome) -> None:
        await self.relay.drain()
        draft = MessageDraft(
            id=outcome.result_id,
            role=Message.Role.TOOL_RESULT,
            content=outcome.result,
            tool_call_id=outcome.call.call_id,
            tool_name=outcome.call.name,
            is_error=outcome.is_error,
        )
        await database_sync_to_async(conversation_services.messages_append)(
            user=self.chat.user, conversation_id=self.chat.conversation_id, drafts=[draft]
        )
        await broadcast(
            self.chat,
            {
                "type": "tool:result",
                "message_id": str(draft.id),
                "call_id": outcome.call.call_id,
                "name": outcome.call.name,
                "result": outcome.result,
                "is_error": outcome.is_error,
            },
        )

    async def note(self, text: str) -> None:
        (row,) = await database_sync_to_async(conversation_services.messages_append)(
            user=self.chat.user,
            conversation_id=self.chat.conversation_id,
            drafts=[MessageDraft(role=Message.Role.SYSTEM, content=text)],
        )
        await self.emit({"type": "message:created", "message": message_payload(row)})

    async def finish(self, status: str, started: float) -> None:
        """End the turn once: message:done to every socket, metrics and the decision stored."""
        if self.finished:
            return
        self.finished = True
        await self.relay.close()
        self.mark("done")
        if timing_logger.isEnabledFor(logging.DEBUG):
            timing_logger.debug(
                "turn %s: %s",
                self.turn_id,
                " ".join(f"{name}={(at - self.started) * 1000:.1f}ms" for name, at in self.marks),
            )
        decision = self.decision
        latency_ms = int((time.monotonic() - started) * 1000)
        provider = decision.provider if decision else self.chat.provider
        model = decision.model if decision else self.chat.model
        done: MessageDone = {
            "type": "message:done",
            "message_id": str(self.last_message_id or ""),
            "status": status,
            "provider": provider,
            "model": model,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens},
            "latency_ms": latency_ms,
            "routing": routing_info(decision) if decision else None,
        }
        await database_sync_to_async(_record_turn)(
            user=self.chat.user,
            session_id=self.chat.session_id,
            decision=decision,
            message_id=self.last_message_id,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
        )
        # After the bookkeeping: a client that sees message:done can read everything back.
        await broadcast(self.chat, dict(done))


def _record_turn(
    *,
    user: User,
    session_id: uuid.UUID | None,
    decision: RoutingDecision | None,
    message_id: uuid.UUID | None,
    input_tokens: int,
    output_tokens: int,
) -> None:
    from routing.services import decision_record

    if decision is None:
        return
    spec = catalog.get_spec(decision.provider, decision.model)
    cost = catalog.estimate_cost(spec, input_tokens, output_tokens) if spec else None
    services.session_record_turn(
        user=user,
        session_id=session_id,
        provider=decision.provider,
        model=decision.model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
    )
    decision_record(
        user=user, decision=decision, message_id=message_id, failover=decision.failed_over
    )


# --- cancel, commands, close ---------------------------------------------------------------------


async def cancel_turn(chat: ChatSession) -> bool:
    """Stop the running turn of this conversation, whichever socket or process runs it."""
    if chat.conversation_id is None:
        return False
    layer = get_channel_layer()
    assert layer is not None
    # Every consumer on the conversation hears it; the one running the turn cancels its task.
    await layer.group_send(chat.group, {"type": "chat.cancel"})
    return True


async def on_cancel_event(chat: ChatSession) -> None:
    if chat.turn_task is not None and not chat.turn_task.done():
        chat.turn_task.cancel()


async def execute_command(chat: ChatSession, frame: CommandExecute) -> None:
    from agents.commands import run_command

    result = await run_command(chat, frame.command, frame.args or {})
    await chat.send(dict(result))


async def close(chat: ChatSession) -> None:
    chat.connected = False
    if chat.conversation_id is not None:
        layer = get_channel_layer()
        assert layer is not None
        await layer.group_discard(chat.group, chat.channel_name)
    if chat.session_id is not None:
        await database_sync_to_async(services.session_end)(
            user=chat.user, session_id=chat.session_id
        )
