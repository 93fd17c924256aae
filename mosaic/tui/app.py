"""``mosaic chat``: the full-screen chat, a thin Textual view over ``ChatClient``.

The client owns the connection and the protocol; this module turns its events into widgets
and the user's keys into client calls. Streamed text is buffered per message and appended to
its Markdown widget at most every ``FLUSH_INTERVAL`` seconds, so a fast stream costs a few
re-renders a second, not one per token.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget

from mosaic.tui.client import (
    ChatClient,
    ClientEvent,
    Connected,
    Disconnected,
    Fatal,
    NotConnected,
)
from mosaic.tui.frames import (
    CommandResult,
    ConversationHistory,
    MessageAck,
    MessageCreated,
    MessageDone,
    ServerError,
    SessionInfo,
    StoredMessage,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolResult,
)
from mosaic.tui.text import (
    CLIENT_COMMANDS,
    KEYS,
    agent_rows,
    context_usage,
    help_rows,
    route_line,
    short_id,
)
from mosaic.tui.widgets import (
    AgentForm,
    AssistantMessage,
    ChatInput,
    Note,
    RouteLine,
    StatusBar,
    ThinkingBlock,
    ToolLine,
    UserMessage,
    listing,
)

logger = logging.getLogger("mosaic.tui")

FLUSH_INTERVAL = 0.05  # seconds between re-renders of a streaming reply
CANCEL_GRACE = 5.0  # seconds to wait for the server's message:done after a cancel
INTERRUPT_WINDOW = 2.0  # a second ctrl+c within this many seconds quits

HINTS = "/help · ctrl+c quit"

StreamWidget = AssistantMessage | ThinkingBlock


class ChatApp(App[int]):
    CSS_PATH = "chat.tcss"
    TITLE = "Mosaic"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("escape", "cancel_reply", "cancel reply", show=False),
        Binding("ctrl+c", "interrupt", "cancel / quit", show=False, priority=True),
    ]

    def __init__(self, client: ChatClient) -> None:
        super().__init__()
        self.client = client
        self.fatal = ""  # one sentence when the chat cannot go on; `mosaic chat` prints it
        self.running = False  # a reply is being generated in this conversation
        self.session: SessionInfo | None = None
        self.context_tokens = 0
        self.context_window = 0
        self.connection = "connecting…"
        self.shown_conversation = ""
        self._known: set[str] = set()  # stored message ids already on screen
        self._streams: dict[str, StreamWidget] = {}  # message_id → widget receiving deltas
        self._reset_on_delta: set[str] = set()  # streams to restart (the server replays them)
        self._tools: dict[str, ToolLine] = {}  # call_id → line
        self._outgoing: dict[str, UserMessage] = {}  # client_id → the user's message widget
        self._outage = False
        self._cancel_requested = 0.0
        self._cancel_note: Note | None = None  # shown from esc until the turn ends
        self._last_interrupt = 0.0
        self._status_text = ""
        # Held, not queried: a query looks at the active screen, which is a modal form
        # while one is open, and the bar may be updated before it is mounted.
        self._log_pane = VerticalScroll(id="log")
        self._status = StatusBar(id="status")

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self._log_pane
        yield ChatInput(id="input")
        with Horizontal(id="bar"):
            yield self._status
            yield StatusBar(Text(HINTS), id="hints")

    @property
    def log_view(self) -> VerticalScroll:
        return self._log_pane

    @property
    def input(self) -> ChatInput:
        return self.query_one("#input", ChatInput)

    async def on_mount(self) -> None:
        self.input.placeholder = "Message Mosaic (enter sends, ctrl+j new line, /help)"
        self.log_view.anchor()
        self.input.focus()
        self.set_interval(FLUSH_INTERVAL, self._flush_streams)
        self._refresh_status()
        self.client.start()
        self.run_worker(self._pump(), name="chat-events", exclusive=True)

    async def on_unmount(self) -> None:
        await self.client.close()

    # --- events from the client --------------------------------------------------------------

    async def _pump(self) -> None:
        async for event in self.client.events():
            try:
                await self.handle_event(event)
            except Exception as exc:  # a view bug must not kill the chat
                logger.exception("could not show %r", event)
                await self._note(f"(could not show a {type(event).__name__}: {exc})", "error")

    async def handle_event(self, event: ClientEvent) -> None:
        match event:
            case Connected():
                self.connection = "opening…"
            case Disconnected(reason=reason, retry_in=retry_in):
                self.connection = f"reconnecting in {retry_in:.1f} s"
                if not self._outage:
                    self._outage = True
                    await self._note(f"{reason}. Reconnecting…", "warning")
            case Fatal(message=message):
                self.fatal = message
                self.exit(return_code=2)
            case SessionInfo():
                self.session = event
            case ConversationHistory():
                await self._show_history(event)
            case MessageAck(client_id=client_id, message_id=message_id):
                self._known.add(message_id)
                widget = self._outgoing.pop(client_id, None)
                if widget is not None:
                    widget.mark_sent()
            case MessageCreated(message=message):
                if message.id not in self._known:
                    await self._mount(*self._render_messages([message]))
            case TextDelta() | ThinkingDelta():
                await self._on_delta(event)
            case ToolCall():
                self.running = True
                self._known.add(event.message_id)
                line = ToolLine(event.name, event.arguments)
                self._tools[event.call_id] = line
                await self._mount(line)
            case ToolResult():
                self._known.add(event.message_id)
                existing = self._tools.get(event.call_id)
                if existing is None:
                    existing = ToolLine(event.name, {})
                    self._tools[event.call_id] = existing
                    await self._mount(existing)
                existing.set_result(event.result, is_error=event.is_error)
            case MessageDone():
                await self._on_done(event)
            case CommandResult():
                await self._on_command_result(event)
            case ServerError():
                await self._on_error(event)
        self._refresh_status()

    async def _show_history(self, history: ConversationHistory) -> None:
        self.context_tokens, self.context_window = history.context_tokens, history.context_window
        if history.reopened and history.conversation_id == self.shown_conversation:
            await self._catch_up(history)
            self.connection = "connected"
            self._outage = False
            await self._note("Reconnected.", "ok")
            return
        self.connection = "connected"
        self._outage = False
        await self.log_view.remove_children()
        self._cancel_note = None
        self._known.clear()
        self._streams.clear()
        self._tools.clear()
        self._outgoing.clear()
        self.running = False
        title = f" “{history.title}”" if history.title else ""
        agent = self.session.agent if self.session else ""
        if history.messages:
            intro = (
                f"Conversation {history.conversation_id}{title}: {history.message_count} messages"
            )
            if history.has_more:
                intro += f" (the last {len(history.messages)} shown)"
        else:
            intro = f"New conversation {history.conversation_id}"
        intro += f", agent {agent}. /help lists commands." if agent else ". /help lists commands."
        await self._mount(Note(intro, "dim"), *self._render_messages(list(history.messages)))
        self.shown_conversation = history.conversation_id  # only once it is all on screen

    async def _catch_up(self, history: ConversationHistory) -> None:
        """After a reconnect: add what happened while away; replace half-streamed replies."""
        stored = {m.id for m in history.messages}
        for message_id, widget in list(self._streams.items()):
            if message_id in stored:  # finished while we were away: show the stored version
                await widget.remove()
                del self._streams[message_id]
            else:  # still streaming: the server replays its text so far, so start it over
                self._reset_on_delta.add(message_id)
        for message in history.messages:
            # Stored before the drop but never acknowledged: it is already on screen.
            mine = self._outgoing.pop(message.client_id, None) if message.client_id else None
            if mine is not None:
                mine.mark_sent()
                self._known.add(message.id)
        new = [m for m in history.messages if m.id not in self._known]
        if new:
            await self._mount(*self._render_messages(new))
        self.running = bool(self.client.pending) or bool(self._streams)

    async def _on_delta(self, event: TextDelta | ThinkingDelta) -> None:
        self.running = True
        widget = self._streams.get(event.message_id)
        if widget is None:
            widget = (
                AssistantMessage()
                if isinstance(event, TextDelta)
                else ThinkingBlock(streaming=True)
            )
            self._streams[event.message_id] = widget
            await self._mount(widget)
        elif event.message_id in self._reset_on_delta:
            self._reset_on_delta.discard(event.message_id)
            await widget.reset()
        widget.add(event.text)

    async def _on_done(self, done: MessageDone) -> None:
        await self._flush_streams()
        for message_id, widget in self._streams.items():
            self._known.add(message_id)
            if isinstance(widget, ThinkingBlock):
                widget.finish()
            elif message_id == done.message_id or done.status != "complete":
                widget.mark(done.status)
        self._streams.clear()
        self._reset_on_delta.clear()
        self._known.add(done.message_id)
        routing = done.routing or (self.session.routing if self.session else None)
        line = route_line(
            provider=done.provider,
            model=done.model,
            routing=routing,
            status=done.status,
            latency_ms=done.latency_ms,
            usage=done.usage,
        )
        await self._mount(RouteLine(line))
        self.running = False
        await self._cancel_settled()
        # Context usage grew with the turn; ask the server quietly (the answer updates the bar).
        await self._quietly("/history")

    async def _on_command_result(self, result: CommandResult) -> None:
        data = result.data
        if isinstance(data.get("context_tokens"), int) and isinstance(
            data.get("context_window"), int
        ):
            self.context_tokens, self.context_window = (
                data["context_tokens"],
                data["context_window"],
            )
        if result.silent:
            return
        words = result.command.strip().split()
        if result.ok and words == ["/help"] and (rows := help_rows(result.output)):
            await self._mount(listing("Help", rows))
            return
        agents = data.get("agents")
        if result.ok and words == ["/agent"] and isinstance(agents, list):
            current = self.session.agent if self.session else ""
            title = "Agents (/agent SLUG switches to one; ● marks the one in use)"
            await self._mount(listing(title, agent_rows(agents, current)))
            return
        await self._note(result.output, "command" if result.ok else "error")
        if words[:1] == ["/help"]:  # the server's text was not a list of commands
            await self._mount(listing("In this client", [*CLIENT_COMMANDS, ("", "Keys"), *KEYS]))

    async def _on_error(self, error: ServerError) -> None:
        await self._note(error.message or error.code, "error")
        unacked = [c for c, p in self.client.pending.items() if not p.acked]
        if error.code == "conflict" or (unacked and not self._streams):
            # The message we just sent was refused (or will not be answered now): stop waiting.
            for client_id in list(self.client.pending):
                self.client.forget(client_id)
                widget = self._outgoing.pop(client_id, None)
                if widget is not None:
                    widget.add_class("failed")
            self.running = False

    # --- rendering stored messages -----------------------------------------------------------

    def _render_messages(self, messages: list[StoredMessage]) -> list[Widget]:
        """Widgets for stored messages, with a route line closing each answered turn."""
        widgets: list[Widget] = []
        last_answer: StoredMessage | None = None

        def close_turn() -> None:
            nonlocal last_answer
            if last_answer is not None and last_answer.provider:
                widgets.append(
                    RouteLine(
                        route_line(
                            provider=last_answer.provider,
                            model=last_answer.model,
                            routing=last_answer.routing,
                            status=last_answer.status,
                            latency_ms=last_answer.latency_ms,
                            usage=last_answer.usage,
                        )
                    )
                )
            last_answer = None

        for message in messages:
            self._known.add(message.id)
            match message.role:
                case "user":
                    close_turn()
                    widgets.append(UserMessage(message.content))
                case "assistant":
                    answer = AssistantMessage(message.content)
                    answer.mark(message.status)
                    widgets.append(answer)
                    last_answer = message
                case "thinking":
                    widgets.append(ThinkingBlock(message.content))
                case "tool_call":
                    line = ToolLine(message.tool_name, message.tool_arguments)
                    self._tools[message.tool_call_id] = line
                    widgets.append(line)
                case "tool_result":
                    existing = self._tools.get(message.tool_call_id)
                    if existing is None:
                        existing = ToolLine(message.tool_name, {})
                        widgets.append(existing)
                    existing.set_result(message.content, is_error=message.is_error)
                case "checkpoint":
                    widgets.append(Note("(earlier messages summarised for the model)", "dim"))
                case _:
                    widgets.append(Note(message.content, "system"))
        close_turn()
        return widgets

    async def _mount(self, *widgets: Widget) -> None:
        if widgets:
            await self.log_view.mount_all(widgets)

    async def _note(self, text: str, kind: str = "info") -> None:
        await self._mount(Note(text, kind))

    async def _flush_streams(self) -> None:
        for widget in list(self._streams.values()):
            if widget.has_pending:
                await widget.flush()

    # --- the user's input --------------------------------------------------------------------

    async def on_chat_input_submitted(self, submitted: ChatInput.Submitted) -> None:
        text = submitted.text
        stripped = text.strip()
        if stripped.startswith("/"):
            if await self._run_command(stripped):
                self.input.accept(text)
            return
        if self.running:
            await self._note("A reply is still running: esc cancels it.", "warning")
            return
        widget = UserMessage(text, pending=True)
        await self._mount(widget)
        self.input.accept(text)
        self.running = True
        client_id = await self.client.send_message(text)
        if client_id in self.client.pending:
            self._outgoing[client_id] = widget
        self._refresh_status()

    async def _run_command(self, command: str) -> bool:
        """Handle a slash command; False when it was not taken (the input keeps the text)."""
        words = command.split()
        name = words[0].lower()
        if name in ("/quit", "/exit", "/q"):
            self.exit(return_code=0)
            return True
        if name == "/new" or (name == "/agent" and words[1:] == ["new"]):
            if self.running:
                await self._note("A reply is still running: esc cancels it first.", "warning")
                return False
            if name == "/new":
                return await self._send(self.client.open_conversation())
            self.push_screen(AgentForm(), self._agent_form_done)
            return True
        return await self._send(self.client.execute(command))

    def _agent_form_done(self, args: dict[str, Any] | None) -> None:
        if args is not None:
            self.run_worker(self._send(self.client.execute("/agent new", args)))
        self.input.focus()

    async def _send(self, call: Any) -> bool:
        try:
            await call
        except NotConnected:
            await self._note(
                "Not connected to the server right now; try again in a moment.", "warning"
            )
            return False
        return True

    async def _quietly(self, command: str) -> None:
        with contextlib.suppress(NotConnected):
            await self.client.execute(command, silent=True)

    # --- keys --------------------------------------------------------------------------------

    async def action_cancel_reply(self) -> None:
        if not self.running:
            return
        if await self._send(self.client.cancel()):
            self._cancel_requested = time.monotonic()
            self.set_timer(CANCEL_GRACE, self._cancel_overdue)
            if self._cancel_note is None:
                self._cancel_note = Note("Cancelling…", "dim")
                await self._mount(self._cancel_note)
        self._refresh_status()

    async def _cancel_settled(self) -> None:
        """The turn ended (cancelled or not): the "Cancelling…" note has said its piece."""
        self._cancel_requested = 0.0
        if self._cancel_note is not None:
            await self._cancel_note.remove()
            self._cancel_note = None

    async def action_interrupt(self) -> None:
        if isinstance(self.screen, AgentForm):
            self.screen.dismiss(None)
            return
        now = time.monotonic()
        twice = now - self._last_interrupt < INTERRUPT_WINDOW
        self._last_interrupt = now
        if self.running and not twice:
            await self.action_cancel_reply()
            return
        self.exit(return_code=0)

    async def _cancel_overdue(self) -> None:
        """The server never confirmed the cancel (e.g. the turn had already gone): stop waiting."""
        if not self.running or not self._cancel_requested:
            return
        if time.monotonic() - self._cancel_requested < CANCEL_GRACE - 0.1:
            return
        await self._flush_streams()
        for widget in self._streams.values():
            if isinstance(widget, AssistantMessage):
                widget.mark("cancelled")
        self._streams.clear()
        for client_id in list(self.client.pending):
            self.client.forget(client_id)
        self.running = False
        await self._cancel_settled()
        await self._note("Cancelled (the server did not confirm).", "warning")
        self._refresh_status()

    def transcript(self) -> list[str]:
        """The conversation as shown, one ``kind: text`` string per widget (tests, debugging)."""
        lines: list[str] = []
        for widget in self.log_view.children:
            if isinstance(widget, UserMessage):
                lines.append(f"you: {widget.plain}")
            elif isinstance(widget, AssistantMessage):
                status = next((c for c in ("cancelled", "failed") if widget.has_class(c)), "")
                lines.append(f"assistant{f' ({status})' if status else ''}: {widget.source}")
            elif isinstance(widget, ThinkingBlock):
                lines.append(f"thinking: {widget.plain}")
            elif isinstance(widget, ToolLine):
                lines.append(f"tool: {widget.plain}")
            elif isinstance(widget, RouteLine):
                lines.append(f"route: {widget.plain}")
            elif isinstance(widget, Note):
                lines.append(f"note: {widget.plain}")
        return lines

    @property
    def status_text(self) -> str:
        return self._status_text

    # --- status bar --------------------------------------------------------------------------

    def _refresh_status(self) -> None:
        connected = self.connection == "connected"
        conversation = self.shown_conversation or self.client.conversation_id
        where = short_id(conversation) if conversation else "new conversation"
        parts = [f"● {where}" if connected else f"○ {self.connection} │ {where}"]
        session = self.session
        if session is not None:
            parts.append(session.agent)
            pinned = "pinned" if session.model_override else "auto"
            parts.append(f"{session.provider}:{session.model} ({pinned})")
        parts.append(context_usage(self.context_tokens, self.context_window))
        if self.running:
            parts.append("replying… esc cancels")
        self._status_text = " │ ".join(parts)
        self._status.update(Text(self._status_text))
