"""The chat view's widgets: messages, thinking, tool lines, the input line, the agent form."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Collapsible, Input, Label, Markdown, Static, TextArea

from mosaic.tui.text import compact_json, one_line

NEWLINE_KEYS = ("ctrl+j", "shift+enter", "alt+enter", "ctrl+enter")


class ChatInput(TextArea):
    """The input line: enter sends; ctrl+j (or shift/alt+enter) adds a line; up/down recall."""

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus", compact=True
        )
        self.input_history: list[str] = []
        self._history_index: int | None = None
        self._draft = ""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.post_message(self.Submitted(self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)

    def accept(self, text: str) -> None:
        """The app took ``text``: remember it and empty the line."""
        if not self.input_history or self.input_history[-1] != text:
            self.input_history.append(text)
        self._history_index = None
        self._draft = ""
        self.clear()

    def action_cursor_up(self, select: bool = False) -> None:
        if select or self.cursor_location[0] > 0 or not self.input_history:
            super().action_cursor_up(select)
            return
        if self._history_index is None:
            self._draft = self.text
            self._history_index = len(self.input_history) - 1
        else:
            self._history_index = max(0, self._history_index - 1)
        self._show(self.input_history[self._history_index])

    def action_cursor_down(self, select: bool = False) -> None:
        last_row = self.document.line_count - 1
        if select or self.cursor_location[0] < last_row or self._history_index is None:
            super().action_cursor_down(select)
            return
        self._history_index += 1
        if self._history_index >= len(self.input_history):
            self._history_index = None
            self._show(self._draft)
        else:
            self._show(self.input_history[self._history_index])

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)


class UserMessage(Static):
    def __init__(self, text: str, *, pending: bool = False) -> None:
        super().__init__(Text(text), classes="pending" if pending else "")
        self.plain = text
        self.border_title = "you"

    def mark_sent(self) -> None:
        self.remove_class("pending")


class AssistantMessage(Markdown):
    """A reply, rendered as Markdown; streamed text is batched and appended by ``flush``."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self._pending: list[str] = []

    def add(self, text: str) -> None:
        self._pending.append(text)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    async def flush(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            await self.append(text)

    async def reset(self) -> None:
        self._pending.clear()
        await self.update("")

    def mark(self, status: str) -> None:
        if status in ("cancelled", "failed"):
            self.add_class(status)


class ThinkingBlock(Collapsible):
    """The model's visible reasoning: dimmed, collapsed unless opened."""

    def __init__(self, text: str = "", *, streaming: bool = False) -> None:
        self._text = text
        self._dirty = False
        self._body = Static(Text(text), classes="thinking-text")
        super().__init__(self._body, title=self._make_title(streaming), collapsed=True)

    @property
    def plain(self) -> str:
        return self._text

    def _make_title(self, streaming: bool) -> str:
        words = len(self._text.split())
        return "thinking…" if streaming else f"thinking ({words} words)"

    def add(self, text: str) -> None:
        self._text += text
        self._dirty = True

    @property
    def has_pending(self) -> bool:
        return self._dirty

    async def flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self._body.update(Text(self._text))

    async def reset(self) -> None:
        self._text = ""
        self._dirty = True

    def finish(self) -> None:
        self.title = self._make_title(streaming=False)


class ToolLine(Collapsible):
    """One line per tool call and its result; opening it shows the full arguments and result."""

    def __init__(self, name: str, arguments: dict[str, Any], result: str | None = None) -> None:
        self.tool_name = name
        self.arguments = arguments
        self._body = Static(classes="tool-detail")
        super().__init__(self._body, title="", collapsed=True)
        self.set_result(result, is_error=False)

    def set_result(self, result: str | None, *, is_error: bool) -> None:
        call = f"{self.tool_name}({compact_json(self.arguments, 50)})"
        if result is None:
            title = f"⚙ {call} …"
        elif is_error:
            title = f"✗ {call} → error: {one_line(result, 70)}"
        else:
            title = f"⚙ {call} → {one_line(result, 70)}"
        self.plain = title
        self.title = escape(title)
        detail = Text()
        detail.append("arguments ", style="bold")
        detail.append(json.dumps(self.arguments, ensure_ascii=False, indent=2))
        if result is not None:
            detail.append("\nresult ", style="bold red" if is_error else "bold")
            detail.append(result)
        self._body.update(detail)
        self.set_class(is_error, "tool-error")


class RouteLine(Static):
    """Under every response: which provider/model answered and why (wrapped, never cut)."""

    def __init__(self, text: str) -> None:
        super().__init__(Text(text), classes="route")
        self.plain = text


class Note(Static):
    """A line from the client or the server: command output, errors, connection changes.

    ``plain`` is its text; ``renderable`` (when given) is how it is drawn instead.
    """

    def __init__(
        self, text: str, kind: str = "info", *, renderable: RenderableType | None = None
    ) -> None:
        super().__init__(
            Text(text) if renderable is None else renderable, classes=f"note note-{kind}"
        )
        self.plain = text
        self.kind = kind


def listing(title: str, rows: list[tuple[str, str]]) -> Note:
    """A titled list of ``(name, text)`` rows in two columns, e.g. /help or /agent.

    The text column wraps at word boundaries to the window's width: nothing is cut. A row
    whose name is empty is a section heading.
    """
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(ratio=1)
    for name, text in rows:
        if name:
            grid.add_row(name, text)
        else:
            grid.add_row(Text(text, style="italic"), "")
    plain = "\n".join([title, *(f"{name}  {text}" if name else text for name, text in rows)])
    return Note(plain, "command", renderable=Group(Text(title), grid))


class StatusBar(Static):
    pass


class AgentForm(ModalScreen[dict[str, Any] | None]):
    """``/agent new``: name, system prompt and tools, sent as command:execute args."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="agent-form"):
            yield Label("New agent", id="agent-form-title")
            yield Label("Name")
            yield Input(placeholder="e.g. Release notes writer", id="agent-name")
            yield Label("System prompt")
            yield TextArea(id="agent-prompt", soft_wrap=True, tab_behavior="focus")
            yield Label("Tools (comma-separated, e.g. calculator, conversation_search)")
            yield Input(placeholder="none", id="agent-tools")
            yield Label("Description (optional)")
            yield Input(id="agent-description")
            yield Label("", id="agent-form-error")
            with Horizontal(id="agent-form-buttons"):
                yield Button("Create", variant="primary", id="agent-create")
                yield Button("Cancel", id="agent-cancel")

    def on_mount(self) -> None:
        self.query_one("#agent-name", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "agent-create":
            self._create()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _create(self) -> None:
        name = self.query_one("#agent-name", Input).value.strip()
        prompt = self.query_one("#agent-prompt", TextArea).text.strip()
        if not name or not prompt:
            self.query_one("#agent-form-error", Label).update("A name and a system prompt, please.")
            return
        tools_text = self.query_one("#agent-tools", Input).value
        args: dict[str, Any] = {
            "name": name,
            "system_prompt": prompt,
            "tools": [t.strip() for t in tools_text.split(",") if t.strip()],
        }
        description = self.query_one("#agent-description", Input).value.strip()
        if description:
            args["description"] = description
        self.dismiss(args)
