"""The pure formatting helpers and the input line's keys (no server needed)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from mosaic.tui.frames import Routing, Usage
from mosaic.tui.text import context_usage, human_tokens, route_line, routing_label
from mosaic.tui.widgets import ChatInput


def test_route_line_names_the_model_and_the_reason() -> None:
    routing = Routing(rule="cheap", reason="conversation + simple matched rule 9 'cheap'")
    line = route_line(
        provider="anthropic",
        model="claude-haiku-4-5",
        routing=routing,
        latency_ms=1840,
        usage=Usage(412, 31),
    )
    assert line == (
        "↳ anthropic:claude-haiku-4-5 · conversation + simple matched rule 9 'cheap' · 1.8 s · 412→31 tok"
    )


def test_routing_label_says_override_and_failover() -> None:
    assert routing_label(Routing(rule="", reason="pinned", override=True)) == "override: pinned"
    assert routing_label(Routing(rule="r", reason="x", failover=True)) == "failover: x"
    assert routing_label(Routing(rule="", reason="", override=True, failover=True)) == (
        "override + failover"
    )
    assert routing_label(None) == "routing: no decision recorded"


def test_a_cancelled_reply_says_so() -> None:
    line = route_line(provider="openai", model="gpt-5.4", routing=None, status="cancelled")
    assert line.split(" · ") == ["↳ openai:gpt-5.4", "routing: no decision recorded", "cancelled"]


def test_token_counts_are_short() -> None:
    assert [human_tokens(n) for n in (999, 1000, 1234, 200_000, 1_000_000)] == [
        "999",
        "1k",
        "1.2k",
        "200k",
        "1M",
    ]
    assert context_usage(1234, 200_000) == "ctx 1.2k/200k 0.6%"


class InputApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def compose(self) -> ComposeResult:
        yield ChatInput(id="input")

    def on_chat_input_submitted(self, message: ChatInput.Submitted) -> None:
        self.sent.append(message.text)
        self.query_one(ChatInput).accept(message.text)


async def test_enter_sends_ctrl_j_adds_a_line_and_arrows_recall_history() -> None:
    app = InputApp()
    async with app.run_test() as pilot:
        box = app.query_one(ChatInput)
        box.focus()
        await pilot.press("h", "i", "enter")
        await pilot.press("a", "ctrl+j", "b", "enter")
        assert app.sent == ["hi", "a\nb"]
        assert box.text == ""
        await pilot.press("enter")  # nothing to send
        assert app.sent == ["hi", "a\nb"]

        await pilot.press("d", "r", "a", "f", "t")
        await pilot.press("up")
        assert box.text == "a\nb"
        await pilot.press("up")  # the cursor is on the last line: up moves within the text first
        assert box.text == "a\nb"
        await pilot.press("up")
        assert box.text == "hi"
        await pilot.press("down")
        assert box.text == "a\nb"
        await pilot.press("down", "down")
        assert box.text == "draft"
