"""One Chat Completions call: a channel client that lives for one HTTP request.

``HttpChannel`` is a ``ChannelAdapter`` (agents/channel.py) whose ``deliver`` queues the
gateway's events for the request. ``CompletionCall`` is the door's whole conversation with the
gateway: store what the call brings (``intake``), open the conversation and post the message
through ``gateway.receive`` as any channel does, then read the turn's events until the turn is
over. The turn is the socket's turn (routing, failover, context, persistence, the recorder);
only the caller's options (``CallerOptions``) and the status of a reply cut short differ: the
HTTP client going away is not a request to stop, so its partial reply is stored as failed.

A channel-layer address (``ChannelListener``) makes the call a member of the conversation's
group while it runs, so that a stop pressed in another client (the web page) stops it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from agents import channel as ch
from agents import events, gateway
from agents.listener import ChannelListener
from agents.openai_api import errors
from agents.openai_api.intake import take_in
from agents.openai_api.wire import (
    ApiError,
    Completion,
    CompletionRequest,
    sse,
    tool_call_json,
)
from agents.runtime import CallerOptions
from agents.session import ChatSession
from agents.turn import continue_turn
from conversations import selectors as conversation_selectors
from core.db import in_database_thread
from core.errors import MosaicError
from providers.adapters.base import ToolCall

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.openai")

# Printable ASCII but "%": what a header value may carry as is; the rest is percent-encoded.
_HEADER_SAFE = "".join(chr(c) for c in range(32, 127) if chr(c) != "%")


class HttpChannel:
    """The door's adapter: the gateway's events for one request, in order."""

    channel: ClassVar[str] = "openai"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[ch.Outbound] = asyncio.Queue()

    async def deliver(self, event: ch.Outbound) -> None:
        self.queue.put_nowait(event)


@dataclass
class Route:
    provider: str = ""
    model: str = ""
    rule: str = ""
    reason: str = ""

    @classmethod
    def of(cls, provider: str, model: str, routing: ch.RouteLine) -> Route:
        return cls(provider, model, routing.rule or "", routing.reason)


class CompletionCall:
    def __init__(self, user: User, request: CompletionRequest, received: float) -> None:
        self.user = user
        self.request = request
        self.received = received
        self.adapter = HttpChannel()
        self.listener = ChannelListener(self.adapter)
        self.chat: ChatSession | None = None
        self.conversation_id: uuid.UUID | None = None
        self.route = Route()
        self.routed_at: float | None = None
        self.failure: ch.Failure | None = None
        self.ended: ch.TurnEnded | None = None
        self.caller_tools = {tool.name for tool in request.tools}
        self.completion = Completion(id=f"chatcmpl-{uuid.uuid4().hex}", model=request.model)
        self._over = False

    # --- starting ------------------------------------------------------------------------------

    async def start(self, conversation_header: str) -> None:
        """Store the call's messages and start the turn; a refusal raises ``ApiError``.

        In a fresh context: with a synchronous middleware installed (WhiteNoise), Django runs
        the view under ``async_to_sync``, and a task started in that context would run its
        database calls on the request's thread executor, which quits once the response is
        returned; the turn (and the listener) outlive the view when the response streams."""
        await asyncio.create_task(self._start(conversation_header), context=contextvars.Context())

    async def _start(self, conversation_header: str) -> None:
        try:
            intake = await in_database_thread(
                take_in,
                user=self.user,
                request=self.request,
                conversation_header=conversation_header,
            )
        except MosaicError as exc:
            raise errors.from_failure(events.failure_for(exc)) from exc
        self.conversation_id = intake.conversation_id
        await self.listener.start()
        chat = self.chat = await self.listener.connect(self.user)
        chat.cancelled_status = "failed"
        chat.caller = CallerOptions(
            system=self.request.system,
            temperature=self.request.temperature,
            max_tokens=self.request.max_tokens,
            stop=self.request.stop,
            tools=self.request.tools,
            tool_choice=self.request.tool_choice,
        )
        opening = ch.OpenConversation(str(intake.conversation_id), intake.agent, intake.model)
        await gateway.receive(chat, opening)
        self._refuse_on_failure()
        if intake.post is not None:
            post = ch.PostMessage(intake.post, client_id=f"oa-{uuid.uuid4().hex}")
            await gateway.receive(chat, post)
        else:
            try:
                await continue_turn(chat)
            except MosaicError as exc:
                await chat.deliver(events.failure_for(exc))
        if chat.turn_task is None:
            self._refuse_on_failure()
            raise ApiError(500, "The turn did not start.", type="server_error")

    def _refuse_on_failure(self) -> None:
        """Raise the first ``Failure`` among the events so far (nothing had started yet)."""
        while not self.adapter.queue.empty():
            event = self.adapter.queue.get_nowait()
            if isinstance(event, ch.Failure):
                raise errors.from_failure(event)

    # --- reading the turn ----------------------------------------------------------------------

    async def next_event(self) -> ch.Outbound | None:
        """The turn's next event, or None once the turn is over and every event was read."""
        queue = self.adapter.queue
        if not queue.empty():
            return self._note(queue.get_nowait())
        task = self.chat.turn_task if self.chat else None
        if self._over or task is None:
            return None
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return self._note(getter.result())
        getter.cancel()
        self._over = True  # everything the turn delivered is in the queue by now
        return self._note(queue.get_nowait()) if not queue.empty() else None

    def _note(self, event: ch.Outbound) -> ch.Outbound:
        if isinstance(event, ch.SessionState) and event.routing is not None:
            self.route = Route.of(event.provider, event.model, event.routing)
            self.completion.model = f"{event.provider}:{event.model}"
            if self.routed_at is None:
                self.routed_at = time.monotonic()
        elif isinstance(event, ch.TextStreamed) and not event.thinking:
            self.completion.text.append(event.text)
        elif isinstance(event, ch.ToolCalled) and event.name in self.caller_tools:
            self.completion.calls.append(ToolCall(event.call_id, event.name, event.arguments))
        elif isinstance(event, ch.Failure):
            self.failure = event
        elif isinstance(event, ch.TurnEnded):
            self.ended = event  # the last one read is this call's (see ``next_event``)
            self.completion.input_tokens = event.usage.input_tokens
            self.completion.output_tokens = event.usage.output_tokens
            self.completion.model = f"{event.provider}:{event.model}"
            if event.routing is not None:
                self.route = Route.of(event.provider, event.model, event.routing)
        return event

    def error(self) -> ApiError | None:
        """The turn's failure as OpenAI's error, once it is known to have failed."""
        if self.failure is not None:
            return errors.from_failure(self.failure)
        if self.ended is not None and self.ended.status != "complete":
            return ApiError(500, f"The reply ended: {self.ended.status}.", type="server_error")
        return None

    async def finish_reason(self) -> str:
        """OpenAI's ``finish_reason`` from the stored reply's stop reason."""
        if self.completion.calls:
            return "tool_calls"
        message_id = self.ended.message_id if self.ended else ""
        if message_id and self.conversation_id is not None:
            self.completion.stop_reason = await in_database_thread(
                _stop_reason, self.user, self.conversation_id, message_id
            )
        return self.completion.body()["choices"][0]["finish_reason"]  # type: ignore[no-any-return]

    async def collect(self) -> dict[str, object]:
        """Run the turn to its end; the ``chat.completion`` body, or raise its ``ApiError``."""
        while await self.next_event() is not None:
            pass
        failed = self.error()
        if failed is not None:
            raise failed
        await self.finish_reason()
        return self.completion.body()

    async def first_output(self) -> list[ch.Outbound]:
        """The events up to the first text or tool call for the caller (or the end): a stream's
        headers go out with its first chunk, so a failure before it still gets its status."""
        seen: list[ch.Outbound] = []
        while (event := await self.next_event()) is not None:
            seen.append(event)
            if (isinstance(event, ch.TextStreamed) and not event.thinking and event.text) or (
                isinstance(event, ch.ToolCalled) and event.name in self.caller_tools
            ):
                return seen
        failed = self.error()
        if failed is not None:
            raise failed
        return seen

    async def chunks(self, already: list[ch.Outbound]) -> AsyncIterator[bytes]:
        """The SSE stream: ``already`` (from ``first_output``) and then the rest of the turn."""
        usage = self.request.include_usage
        completion = self.completion
        yield completion.chunk({"role": "assistant", "content": ""}, include_usage=usage)
        index = 0

        async def rest() -> AsyncIterator[ch.Outbound]:
            for seen in already:
                yield seen
            while (more := await self.next_event()) is not None:
                yield more

        async for event in rest():
            if isinstance(event, ch.TextStreamed) and not event.thinking and event.text:
                yield completion.chunk({"content": event.text}, include_usage=usage)
            elif isinstance(event, ch.ToolCalled) and event.name in self.caller_tools:
                call = ToolCall(event.call_id, event.name, event.arguments)
                yield completion.chunk(
                    {"tool_calls": [tool_call_json(call, index)]}, include_usage=usage
                )
                index += 1
        failed = self.error()
        if failed is not None:
            yield sse(failed.body())
            return
        finish = await self.finish_reason()
        yield completion.chunk({}, finish, include_usage=usage)
        if usage:
            yield completion.usage_chunk()

    # --- the answer's headers and the end --------------------------------------------------------

    def headers(self) -> dict[str, str]:
        added = ((self.routed_at or time.monotonic()) - self.received) * 1000
        values = {
            "X-Mosaic-Conversation-Id": str(self.conversation_id or ""),
            "X-Mosaic-Provider": self.route.provider,
            "X-Mosaic-Model": self.route.model,
            "X-Mosaic-Rule": self.route.rule,
            "X-Mosaic-Reason": self.route.reason,
            "X-Mosaic-Added-Ms": f"{added:.1f}",
        }
        return {k: quote(v, safe=_HEADER_SAFE) for k, v in values.items() if v}

    async def close(self) -> None:
        """Stop the turn if it still runs (the client went away: its reply is stored as failed)
        and leave the conversation."""
        task = self.chat.turn_task if self.chat else None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        await self.listener.stop()


def _stop_reason(user: User, conversation_id: uuid.UUID, message_id: str) -> str:
    row = (
        conversation_selectors.message_list(user=user, conversation_id=conversation_id)
        .filter(pk=message_id)
        .values_list("metadata", flat=True)
        .first()
    )
    return str((row or {}).get("stop_reason", ""))
