"""The chat socket client: one connection that survives drops, frames as typed events.

Independent of Textual (the app is a view over it) and of the server's code: it speaks
docs/websocket-protocol.md over ``ws://`` or ``wss://`` derived from the server URL, nothing else.

What it does for its user:

- parses every server frame into a frozen dataclass (``frames.py``);
- reconnects after a drop with exponential backoff and jitter (0.5, 1, 2, 4 … capped at 10 s),
  reopens the same conversation (with the pinned model, since a new socket is a new session),
  and resends each message that has not been answered, with its original ``client_id`` (the
  server stores and answers a ``client_id`` once, so a resend is always safe);
- turns the failures a user can fix into one sentence (``ChatFatal``): the server cannot be
  reached, the token was refused, the conversation does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from mosaic.tui.frames import (
    CommandResult,
    ConversationHistory,
    MessageAck,
    MessageDone,
    ProtocolError,
    ServerError,
    ServerEvent,
    SessionInfo,
    StoredMessage,
    parse_frame,
)

logger = logging.getLogger("mosaic.tui.client")

CLOSE_UNAUTHENTICATED = 4401
# History frames carry up to 200 stored messages of up to 256 KB each.
MAX_FRAME_BYTES = 64 * 1024 * 1024

# --- the user-facing failures ------------------------------------------------------------------

FatalKind = Literal["unreachable", "auth", "not_found", "open_failed"]


def unreachable_message(server: str) -> str:
    return f"Cannot reach {server}: is the server running? (`make run` or `mosaic run` starts it)"


AUTH_REFUSED_MESSAGE = "Your token was refused: run `mosaic login`."


def conversation_not_found_message(conversation_id: str) -> str:
    return f"Conversation {conversation_id} not found: `mosaic conversations` lists yours."


class ChatFatal(Exception):
    """The chat cannot go on; ``message`` is one sentence that says what to do."""

    def __init__(self, kind: FatalKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class NotConnected(Exception):
    """The socket is down right now (the client is reconnecting)."""


# --- URLs ------------------------------------------------------------------------------------------


def ws_url_for(server: str) -> str:
    """``http://host:8000`` → ``ws://host:8000/ws/chat/``; https → wss; a path prefix is kept."""
    parts = urlsplit(server.strip())
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    scheme = schemes.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"{server!r} is not a server URL like http://127.0.0.1:8000")
    path = parts.path.rstrip("/") + "/ws/chat/"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def new_client_id() -> str:
    return uuid.uuid4().hex


# --- connection events (made by the client, not sent by the server) ------------------------------


@dataclass(frozen=True)
class Connected:
    """The socket is open (the conversation is being opened)."""

    reconnect: bool


@dataclass(frozen=True)
class Disconnected:
    """The socket is down; the next attempt is in ``retry_in`` seconds."""

    reason: str
    retry_in: float
    attempt: int


@dataclass(frozen=True)
class Fatal:
    """The chat cannot go on (see ``ChatFatal``); the client has stopped."""

    kind: FatalKind
    message: str


ClientEvent = ServerEvent | Connected | Disconnected | Fatal


# --- backoff -------------------------------------------------------------------------------------


@dataclass
class Backoff:
    """Exponential delays with jitter: 0.5, 1, 2, 4, 8, 10, 10 … seconds (each ±20 %)."""

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self.attempt)
        self.attempt += 1
        # Jitter spreads many clients' retries after a server restart; not security-relevant.
        spread = self.rng.uniform(1 - self.jitter, 1 + self.jitter)
        return min(self.maximum, base * spread)

    def reset(self) -> None:
        self.attempt = 0


# --- the client ------------------------------------------------------------------------------------


@dataclass
class PendingMessage:
    """A message sent by this client whose turn has not finished yet."""

    client_id: str
    content: str
    acked: bool = False
    message_id: str = ""


class ChatClient:
    """A chat connection that reconnects by itself. Use it as::

    client = ChatClient(server, token, conversation_id=...)
    client.start()
    await client.wait_ready()          # raises ChatFatal with one sentence for the user
    async for event in client.events():
        ...
    await client.send_message("hello")
    await client.close()
    """

    def __init__(
        self,
        server: str,
        token: str,
        *,
        conversation_id: str | None = None,
        agent: str | None = None,
        model: str | None = None,
        backoff: Backoff | None = None,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.ws_url = ws_url_for(self.server)
        self._token = token
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        # What the next conversation:open asks for; updated from session:info.
        self.conversation_id = conversation_id or ""
        self._agent = agent or ""
        self._model = model or ""
        # Mirrors of the server's session state, for the view.
        self.session: SessionInfo | None = None
        self.connected = False
        self.ready = False  # the conversation is open on the current socket
        self.pending: dict[str, PendingMessage] = {}
        self._silent_commands: list[str] = []
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[ClientEvent | None] = asyncio.Queue()
        self._first_open: asyncio.Future[None] | None = None
        self._opened_once = False
        self._opening = False
        self._reopen = False
        self._closing = False

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._first_open = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(), name="mosaic-chat-client")

    async def wait_ready(self) -> None:
        """Wait until the first conversation is open; raise ``ChatFatal`` if it cannot be."""
        self.start()
        assert self._first_open is not None
        await asyncio.shield(self._first_open)

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._events.put_nowait(None)

    async def events(self) -> AsyncIterator[ClientEvent]:
        """Every event in order, until the client is closed or has failed for good."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event
            if isinstance(event, Fatal):
                return

    async def next_event(self, wait: float = 10.0) -> ClientEvent:
        """The next event, or TimeoutError after ``wait`` seconds (for scripts and tests)."""
        event = await asyncio.wait_for(self._events.get(), wait)
        if event is None:
            raise NotConnected("the client is closed")
        return event

    # --- what the user does ------------------------------------------------------------------

    async def send_message(self, content: str, client_id: str | None = None) -> str:
        """Send a user message; kept until its turn ends and resent after a reconnect."""
        pending = PendingMessage(client_id or new_client_id(), content)
        self.pending[pending.client_id] = pending
        if self.ready:
            await self._send_quietly(
                {"type": "message:send", "content": content, "client_id": pending.client_id}
            )
        return pending.client_id

    async def execute(
        self, command: str, args: dict[str, Any] | None = None, *, silent: bool = False
    ) -> None:
        frame: dict[str, Any] = {"type": "command:execute", "command": command}
        if args is not None:
            frame["args"] = args
        await self._send(frame)
        if silent:
            self._silent_commands.append(command.strip())

    async def cancel(self) -> None:
        await self._send({"type": "message:cancel"})

    async def open_conversation(
        self, conversation_id: str | None = None, agent: str | None = None
    ) -> None:
        """Switch this socket to another conversation (a new one when no id is given)."""
        self.conversation_id = conversation_id or ""
        self._agent = agent or ""
        self.pending.clear()
        await self._send_open(reopen=False)

    async def reconnect(self) -> None:
        """Drop the socket now; the client reconnects and reopens as after any drop."""
        if self._ws is not None:
            await self._ws.close()

    def forget(self, client_id: str) -> None:
        """Stop tracking a message (the server refused it, or the user gave up on its reply)."""
        self.pending.pop(client_id, None)

    async def ping(self) -> None:
        await self._send({"type": "ping"})

    # --- the connection loop -----------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._closing:
                reason = await self._connect_and_serve()
                if reason is None or self._closing:
                    return
                if not self._opened_once:
                    # Never worked: say so now instead of retrying in the dark.
                    self._fail("unreachable", reason)
                    return
                delay = self.backoff.next()
                await self._emit(Disconnected(reason, delay, self.backoff.attempt))
                await asyncio.sleep(delay)
        except ChatFatal as exc:
            self._fail(exc.kind, exc.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the view waiting forever
            logger.exception("chat client stopped")
            self._fail("open_failed", f"The chat connection failed: {exc}")

    async def _connect_and_serve(self) -> str | None:
        """One connection's life. Returns why it ended (to retry), or None to stop."""
        try:
            ws = await connect(
                self.ws_url,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                max_size=MAX_FRAME_BYTES,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise ChatFatal("auth", AUTH_REFUSED_MESSAGE) from None
            return f"{self.server} answered HTTP {status} to the chat socket"
        except InvalidURI:
            raise ChatFatal("unreachable", f"{self.server} is not a usable server URL.") from None
        except (OSError, TimeoutError, InvalidHandshake):
            return unreachable_message(self.server)
        self._ws = ws
        self.connected = True
        reconnect = self._opened_once
        try:
            await self._emit(Connected(reconnect=reconnect))
            await self._send_open(reopen=reconnect)
            async for raw in ws:
                event = parse_frame(raw)
                event = await self._observe(event)
                await self._emit(event)
        except (ConnectionClosed, NotConnected):
            # Not an error here: the close code, read below, says why the socket ended.
            pass
        except ChatFatal:
            await ws.close()
            raise
        except ProtocolError as exc:
            logger.warning("closing the socket: %s", exc)
            await ws.close()
        finally:
            self._ws = None
            self.connected = False
            self.ready = False
        close_code = ws.close_code
        if close_code == CLOSE_UNAUTHENTICATED:
            raise ChatFatal("auth", AUTH_REFUSED_MESSAGE)
        if self._closing:
            return None
        reason = ws.close_reason or ""
        return f"The connection to {self.server} was lost" + (f" ({reason})" if reason else "")

    # --- frames in -----------------------------------------------------------------------------

    async def _observe(self, event: ServerEvent) -> ServerEvent:
        """Keep the client's state in step with the server before the view sees the event."""
        if isinstance(event, SessionInfo):
            self.session = event
            if event.conversation_id:
                self.conversation_id = event.conversation_id
            self._model = event.model_override
        elif isinstance(event, ConversationHistory):
            reopened = self._reopen
            self._opening = self._reopen = False
            self._opened_once = True
            self.ready = True
            self.backoff.reset()
            if self._first_open is not None and not self._first_open.done():
                self._first_open.set_result(None)
            await self._resend_unanswered(event)
            if reopened:
                event = ConversationHistory(**{**event.__dict__, "reopened": True})
        elif isinstance(event, MessageAck):
            pending = self.pending.get(event.client_id)
            if pending is not None:
                pending.acked, pending.message_id = True, event.message_id
        elif isinstance(event, MessageDone):
            # The turn for every acknowledged message is over (one turn at a time).
            for client_id in [c for c, p in self.pending.items() if p.acked]:
                del self.pending[client_id]
        elif isinstance(event, CommandResult):
            if self._silent_commands and self._silent_commands[0] == event.command.strip():
                self._silent_commands.pop(0)
                event = CommandResult(event.command, event.ok, event.output, event.data, True)
        elif isinstance(event, ServerError) and self._opening:
            self._opening = False
            if event.code == "not_found" and self.conversation_id:
                raise ChatFatal("not_found", conversation_not_found_message(self.conversation_id))
            raise ChatFatal("open_failed", event.message or "The conversation could not be opened.")
        return event

    async def _resend_unanswered(self, history: ConversationHistory) -> None:
        """After (re)opening: resend what the server has not answered, with the same client_id."""
        if not self.pending:
            return
        answered = _answered_client_ids(history.messages)
        for pending in list(self.pending.values()):
            if pending.client_id in answered:
                del self.pending[pending.client_id]
                continue
            await self._send_quietly(
                {"type": "message:send", "content": pending.content, "client_id": pending.client_id}
            )

    # --- frames out ----------------------------------------------------------------------------

    async def _send_open(self, *, reopen: bool) -> None:
        frame: dict[str, Any] = {"type": "conversation:open"}
        if self.conversation_id:
            frame["conversation_id"] = self.conversation_id
        if self._agent and not reopen:
            frame["agent"] = self._agent
        if self._model:
            frame["model"] = self._model  # a new socket is a new session: pin the model again
        self.ready = False
        self._opening = True
        self._reopen = reopen
        self._silent_commands.clear()
        await self._send(frame)

    async def _send(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise NotConnected("not connected to the server")
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
        except ConnectionClosed:
            raise NotConnected("the connection was lost") from None

    async def _send_quietly(self, frame: dict[str, Any]) -> None:
        """Send if possible; a message that cannot go now is resent after the reconnect."""
        with contextlib.suppress(NotConnected):
            await self._send(frame)

    async def _emit(self, event: ClientEvent) -> None:
        await self._events.put(event)

    def _fail(self, kind: FatalKind, message: str) -> None:
        self._closing = True
        if self._first_open is not None and not self._first_open.done():
            self._first_open.set_exception(ChatFatal(kind, message))
            # Retrieved by wait_ready() or never: either way, not an "unretrieved" warning.
            self._first_open.exception()
        self._events.put_nowait(Fatal(kind, message))


def _answered_client_ids(messages: tuple[StoredMessage, ...]) -> set[str]:
    """Client ids of user messages that have a finished assistant reply after them."""
    answered: set[str] = set()
    waiting: list[str] = []
    for message in messages:
        if message.role == "user":
            waiting.append(message.client_id)
        elif message.role == "assistant" and message.status != "streaming":
            answered.update(c for c in waiting if c)
            waiting.clear()
    return answered
