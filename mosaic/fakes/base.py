"""Shared machinery for the fake upstream LLM servers.

Each fake is a real HTTP server on loopback (aiohttp, in a background thread with its own event
loop) that speaks one provider's wire protocol. Tests script what it answers with ``Script``
objects (reply text, thinking, tool calls, usage, faults) and read back every request it
received from ``requests``. The only things faked in Mosaic's tests are these upstreams.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web


@dataclass
class Fault:
    """Something going wrong upstream.

    - ``status``: answer the request with ``status`` (e.g. 401, 429, 503, 529) and ``body``.
    - ``cut``: start streaming normally, then drop the connection after ``after_chunks`` chunks.
    - ``stall``: accept the request and send nothing for ``seconds`` (past the client's timeout).
    - ``trickle``: start streaming, and after ``after_chunks`` chunks send only the protocol's
      keep-alive (``FakeUpstream.keepalive``, e.g. an SSE ping) every ``interval`` seconds for
      ``seconds``, then the rest: bytes keep coming, tokens do not (a read timeout never fires).
    """

    kind: Literal["status", "cut", "stall", "trickle"]
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    after_chunks: int = 1
    seconds: float = 30.0
    interval: float = 2.0


@dataclass
class ToolUse:
    name: str
    arguments: dict[str, Any]
    call_id: str = ""


@dataclass
class Script:
    """What the fake answers to one request."""

    text: str = "Hello from the fake upstream."
    thinking: str = ""
    tool_calls: list[ToolUse] = field(default_factory=list)
    input_tokens: int = 12
    output_tokens: int = 7
    fault: Fault | None = None
    # The reply text is streamed in pieces of this many characters.
    chunk_size: int = 8
    # Pause between streamed chunks (seconds), to let tests act mid-stream.
    delay: float = 0.0
    stop_reason: str | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any

    @property
    def json(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), f"request body is not a JSON object: {self.body!r}"
        return self.body


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] if text else []


async def json_body(request: web.Request) -> Any:
    """The request's JSON body (None when empty or not JSON), read from this request itself.

    Handlers should use this rather than ``self.requests[-1]``, which belongs to whichever
    request arrived last when several are in flight.
    """
    raw = await request.read()  # aiohttp caches the body the recording middleware already read
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


async def stall(request: web.Request, seconds: float) -> None:
    """Send nothing for ``seconds``, giving up early once the client has gone away.

    aiohttp keeps running a handler after its client disconnects, so a plain sleep would keep a
    stalled handler (and the server's shutdown) busy long after the test moved on.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))


class FakeUpstream:
    """Base class: subclasses add routes in ``setup_routes`` and stream with ``self.stream_*``."""

    provider = "fake"
    # What the protocol sends to keep a quiet stream open (an SSE comment by default).
    keepalive = b": keep-alive\n\n"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._scripts: collections.deque[Script] = collections.deque()
        self.default_script = Script()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.requested_port = 0  # 0: any free port
        # Keep only the last N requests (0: all). Tests read them all; a long-running
        # `mosaic fake-upstream` must not grow without bound.
        self.record_limit = 0
        # Called with every request as it arrives (`mosaic fake-upstream` logs them).
        self.on_request: Callable[[RecordedRequest], None] | None = None

    # --- scripting ---------------------------------------------------------------------------

    def script(self, *scripts: Script) -> None:
        """Queue answers for the next requests, in order; afterwards ``default_script`` answers."""
        self._scripts.extend(scripts)

    def next_script(self) -> Script:
        return self._scripts.popleft() if self._scripts else self.default_script

    def reset(self) -> None:
        self.requests.clear()
        self._scripts.clear()
        self.default_script = Script()

    def chat_requests(self) -> list[RecordedRequest]:
        """The requests that asked for a completion (subclasses say which paths those are)."""
        return [r for r in self.requests if r.method == "POST" and self.is_chat_path(r.path)]

    def is_chat_path(self, path: str) -> bool:
        return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- server ------------------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body: Any
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        else:
            body = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query),
            body=body,
        )
        self.requests.append(recorded)
        if self.record_limit and len(self.requests) > self.record_limit:
            del self.requests[: len(self.requests) - self.record_limit]
        if self.on_request is not None:
            self.on_request(recorded)
        response: web.StreamResponse = await handler(request)
        return response

    def start(self) -> str:
        """Listen on ``requested_port`` (0: any free one); returns the base URL.

        Raises ``OSError`` at once when the port cannot be bound (e.g. it is in use).
        """
        ready = threading.Event()
        failure: list[OSError] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application(middlewares=[self._record])
            self.setup_routes(app)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.requested_port)
            try:
                loop.run_until_complete(site.start())
            except OSError as exc:
                failure.append(exc)
                loop.run_until_complete(self._runner.cleanup())
                loop.close()
                ready.set()
                return
            sockets = getattr(site._server, "sockets", None)
            assert sockets, "the fake upstream has no listening socket"
            self.port = sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-{self.provider}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.provider} upstream did not start")
        if failure:
            self._loop = None
            raise failure[0]
        return self.base_url

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # --- helpers for subclasses --------------------------------------------------------------

    @staticmethod
    def fault_response(fault: Fault) -> web.Response:
        body = fault.body if fault.body is not None else {"error": {"message": "fault"}}
        return web.json_response(body, status=fault.status, headers=fault.headers)

    async def open_stream(self, request: web.Request, content_type: str) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        return response

    async def trickle(
        self, request: web.Request, response: web.StreamResponse, fault: Fault
    ) -> bool:
        """Send ``keepalive`` every ``fault.interval`` s for ``fault.seconds``; False once the
        client has gone away."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + fault.seconds
        while loop.time() < deadline:
            try:
                await response.write(self.keepalive)
            except ConnectionResetError:
                return False
            await stall(request, min(fault.interval, max(0.0, deadline - loop.time())))
            transport = request.transport
            if transport is None or transport.is_closing():
                return False
        return True

    @staticmethod
    async def cut(request: web.Request) -> None:
        """Drop the connection without finishing the response."""
        transport = request.transport
        if transport is not None:
            transport.abort()

    async def send_chunks(
        self,
        request: web.Request,
        response: web.StreamResponse,
        encoded: list[bytes],
        script: Script,
    ) -> bool:
        """Write pre-encoded chunks, honouring the script's delay and a ``cut`` fault.

        Returns False when the connection was cut, or the client went away (it cancelled the
        reply): the caller must stop writing.
        """
        fault = script.fault
        for index, data in enumerate(encoded):
            if fault and fault.kind == "cut" and index >= fault.after_chunks:
                await self.cut(request)
                return False
            trickle = fault and fault.kind == "trickle" and index == fault.after_chunks
            if trickle and not await self.trickle(request, response, fault):  # type: ignore[arg-type]
                return False
            try:
                await response.write(data)
            except ConnectionResetError:
                return False
            if script.delay:
                await asyncio.sleep(script.delay)
        return True
