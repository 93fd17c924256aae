"""One chat turn's model loop: stream a step, run the tools it asked for, feed results back.

The runtime knows nothing of sockets or the database: it reports to a ``TurnSink`` (the gateway),
which persists rows and relays frames. Tools run with the session's user bound in their context.

Every model call runs under three deadlines (``StreamDeadlines``): the first token must come
within ``first_token`` seconds (bytes that carry no token, such as keep-alive pings, do not
count), then no more than ``idle`` seconds may pass between two events, and the whole turn ends
at ``turn_ends`` (a monotonic time). A deadline that passes is a ``timeout`` provider failure:
before the first token the gateway fails over, after it the partial reply is kept as failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from jsonschema import Draft202012Validator

from agents.tools import Tool, ToolContext, ToolError
from providers.adapters.base import (
    ChatMessage,
    ChatRequest,
    Done,
    ErrorKind,
    ProviderAdapter,
    ProviderError,
    ResolvedCredential,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolChoice,
    ToolSpec,
    Usage,
)

logger = logging.getLogger("mosaic.runtime")

TOOL_TIMEOUT = 60.0
MAX_TOOL_RESULT_CHARS = 50_000


@dataclass(frozen=True)
class CallerOptions:
    """What a door's caller asks of one turn beyond its message (the OpenAI-compatible endpoint
    passes its request's sampling options and tools). ``tools`` are the caller's own: the model
    may call them, and the turn then ends with those calls for the caller to run
    (``TurnOutcome.caller_calls``); Mosaic never runs them."""

    system: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None


NO_CALLER_OPTIONS = CallerOptions()


@dataclass(frozen=True)
class StreamDeadlines:
    """How long a model call may stay silent (seconds), and when the whole turn must be over."""

    first_token: float = 60.0
    idle: float = 60.0
    turn_ends: float = math.inf  # time.monotonic() value

    def next_wait(self, step: StepOutput) -> tuple[float, str]:
        """Seconds to wait for the next event, and what it means if none comes."""
        left = self.turn_ends - time.monotonic()
        if step.first_token_at is None:
            wait = self.first_token - (time.monotonic() - step.started_at)
            what = f"no reply began within {self.first_token:g} s"
        else:
            wait, what = self.idle, f"the reply stalled for {self.idle:g} s"
        if left <= wait:
            return max(0.0, left), "the turn ran past its time limit"
        return max(0.0, wait), what


@dataclass
class TurnPlan:
    provider: str
    model: str
    system_prompt: str
    tools: Sequence[Tool]
    max_steps: int
    reasoning: bool = False
    timeout: float = 120.0
    max_tokens: int | None = None
    caller: CallerOptions = NO_CALLER_OPTIONS
    deadlines: StreamDeadlines = field(default_factory=StreamDeadlines)


@dataclass
class StepOutput:
    """What one model call produced; ids are chosen when the first delta of each kind arrives."""

    text_id: uuid.UUID = field(default_factory=uuid.uuid4)
    thinking_id: uuid.UUID = field(default_factory=uuid.uuid4)
    text: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    # Signed thinking blocks as (text, signature): a signature closes a block (Anthropic); the
    # blocks go back to the provider verbatim when the turn continues after a tool call.
    thinking_blocks: list[tuple[str, str]] = field(default_factory=list)
    _block_start: int = 0
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str = ""
    started_at: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None

    @property
    def text_content(self) -> str:
        return "".join(self.text)

    @property
    def thinking_content(self) -> str:
        return "".join(self.thinking)

    @property
    def produced_output(self) -> bool:
        return bool(self.text or self.thinking or self.tool_calls)

    @property
    def latency_ms(self) -> int:
        return int((time.monotonic() - self.started_at) * 1000)


@dataclass
class ToolOutcome:
    call: ToolCall
    result: str
    is_error: bool
    result_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class TurnOutcome:
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str = ""
    last_text_id: uuid.UUID | None = None
    hit_step_limit: bool = False
    caller_calls: list[ToolCall] = field(default_factory=list)


class TurnSink(Protocol):
    async def text_delta(self, message_id: uuid.UUID, text: str) -> None: ...

    async def thinking_delta(self, message_id: uuid.UUID, text: str) -> None: ...

    async def step_finished(self, step: StepOutput, status: str) -> None:
        """Persist the step's thinking, text and tool-call rows with ``status``; announce calls."""
        ...

    async def tool_finished(self, outcome: ToolOutcome) -> None: ...

    async def step_streaming(self, step: StepOutput) -> None:
        """The step produced more output (a chance to save the reply so far)."""
        ...


def shown_to_user(error: ProviderError, credential: ResolvedCredential) -> ProviderError:
    """What the user is told of a provider failure. With their own credential, the upstream's
    words (credentials redacted); through their own base URL, one sentence for every failure;
    with the installation's credential, only the kind of failure: what the upstream says about
    the operator's key or account is the operator's business (logged). A deadline that passed
    is Mosaic's own sentence, shown as it is."""
    if credential.user_base_url:
        logger.info("%s failed through a user's base URL: %s", error.provider, error.message)
        return error.for_users_of_their_own_base_url()
    if credential.source != "system" or not error.upstream:  # Mosaic's own words: a deadline
        return error
    logger.warning("%s failed with the system credential: %s", error.provider, error.message)
    return error.for_users_of_system_credential()


class TurnFailed(Exception):
    """The provider failed; ``started`` says whether anything had been streamed to the user."""

    def __init__(self, error: ProviderError, *, started: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.started = started


async def run_turn(
    *,
    plan: TurnPlan,
    history: Sequence[ChatMessage],
    adapter: ProviderAdapter,
    credential: ResolvedCredential,
    context: ToolContext,
    sink: TurnSink,
) -> TurnOutcome:
    messages = list(history)
    tools = {tool.name: tool for tool in plan.tools}
    caller = plan.caller
    caller_tools = {spec.name for spec in caller.tools}
    outcome = TurnOutcome()
    started = False
    while True:
        request = ChatRequest(
            model=plan.model,
            messages=messages,
            system=plan.system_prompt,
            tools=[
                *(tool.spec() for tool in plan.tools if tool.name not in caller_tools),
                *caller.tools,
            ],
            reasoning=plan.reasoning,
            timeout=plan.timeout,
            max_tokens=caller.max_tokens or plan.max_tokens,
            temperature=caller.temperature,
            stop=caller.stop,
            tool_choice=caller.tool_choice,
        )
        step = StepOutput()
        try:
            await _stream_step(
                adapter, request, credential, step, sink=sink, deadlines=plan.deadlines
            )
        except ProviderError as error:
            if step.produced_output:
                await sink.step_finished(step, "failed")
            raise TurnFailed(
                shown_to_user(error, credential), started=started or step.produced_output
            ) from error
        except asyncio.CancelledError:
            await asyncio.shield(sink.step_finished(step, "cancelled"))
            raise
        started = True
        outcome.steps += 1
        outcome.input_tokens += step.input_tokens
        outcome.output_tokens += step.output_tokens
        outcome.stop_reason = step.stop_reason
        if step.text:
            outcome.last_text_id = step.text_id
        await sink.step_finished(step, "complete")
        messages.extend(_step_history(step))
        if not step.tool_calls:
            return outcome
        for call in step.tool_calls:
            if call.name in caller_tools:
                outcome.caller_calls.append(call)
                continue
            result = await execute_tool(call, tools, context)
            await sink.tool_finished(result)
            messages.append(
                ChatMessage(
                    role="tool_result",
                    content=result.result,
                    tool_call_id=call.call_id,
                    is_error=result.is_error,
                )
            )
        if outcome.caller_calls:
            return outcome  # the caller runs its tools and sends the results in its next request
        if outcome.steps >= plan.max_steps:
            outcome.hit_step_limit = True
            return outcome


async def _stream_step(
    adapter: ProviderAdapter,
    request: ChatRequest,
    credential: ResolvedCredential,
    step: StepOutput,
    *,
    sink: TurnSink,
    deadlines: StreamDeadlines,
) -> None:
    stream = adapter.stream(request, credential)
    events = aiter(stream)
    deadline = EventDeadline()
    try:
        while True:
            wait, what = deadlines.next_wait(step)
            deadline.arm(wait, what)
            try:
                event = await anext(events)
            except StopAsyncIteration:
                break
            except asyncio.CancelledError:
                if deadline.passed():
                    raise ProviderError(
                        ErrorKind.TIMEOUT,
                        f"{request.model}: {deadline.what}.",
                        provider=adapter.name,
                        upstream=False,
                    ) from None
                raise
            deadline.disarm()  # only the wait for the provider is timed, never our own work
            _apply(event, step)
            if isinstance(event, TextDelta):
                await sink.text_delta(step.text_id, event.text)
                await sink.step_streaming(step)
            elif isinstance(event, ThinkingDelta) and event.text:
                await sink.thinking_delta(step.thinking_id, event.text)
                await sink.step_streaming(step)
    finally:
        deadline.stop()
        # Close the provider's stream at once on cancel or error: it frees the HTTP connection.
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


class EventDeadline:
    """The wait for the provider's next event, timed like ``asyncio.timeout`` (the task is
    cancelled when it passes, and the cancellation told apart from any other) but with one timer
    for the whole stream: moving the deadline is an assignment, and the timer, when it comes,
    sets itself again for the deadline as it now stands. ``asyncio.timeout`` around each event
    made and cancelled a timer per event, a tenth of relaying one (docs/performance.md)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.cancelling = task.cancelling()  # cancellations asked before ours
        self.when = math.inf  # loop time; inf: disarmed
        self.what = ""
        self.timer: asyncio.TimerHandle | None = None
        self.fired = False

    def arm(self, wait: float, what: str) -> None:
        self.when, self.what = self.loop.time() + wait, what
        if self.timer is None:
            self.timer = self.loop.call_at(self.when, self._check)

    def disarm(self) -> None:
        self.when = math.inf

    def _check(self) -> None:
        self.timer = None
        if self.when == math.inf:
            return  # between two waits: the next one sets the timer again
        if self.loop.time() < self.when:
            self.timer = self.loop.call_at(self.when, self._check)
            return
        self.fired = True
        self.task.cancel()

    def passed(self) -> bool:
        """Whether the cancellation being handled is this deadline's (then it is withdrawn)."""
        return self.fired and self.task.uncancel() <= self.cancelling

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _apply(event: Any, step: StepOutput) -> None:
    if isinstance(event, TextDelta | ThinkingDelta | ToolCall) and step.first_token_at is None:
        step.first_token_at = time.monotonic()
    if isinstance(event, TextDelta):
        step.text.append(event.text)
    elif isinstance(event, ThinkingDelta):
        if event.text:
            step.thinking.append(event.text)
        if event.signature:
            step.thinking_blocks.append(
                ("".join(step.thinking[step._block_start :]), event.signature)
            )
            step._block_start = len(step.thinking)
    elif isinstance(event, ToolCall):
        step.tool_calls.append(event)
    elif isinstance(event, Usage):
        step.input_tokens += event.input_tokens
        step.output_tokens += event.output_tokens
    elif isinstance(event, Done):
        step.stop_reason = event.stop_reason


def _step_history(step: StepOutput) -> list[ChatMessage]:
    entries: list[ChatMessage] = []
    entries.extend(
        ChatMessage(role="thinking", content=text, signature=sig)
        for text, sig in step.thinking_blocks
    )
    if step.text:
        entries.append(ChatMessage(role="assistant", content=step.text_content))
    entries.extend(
        ChatMessage(
            role="tool_call",
            tool_call_id=call.call_id,
            tool_name=call.name,
            tool_arguments=call.arguments,
        )
        for call in step.tool_calls
    )
    return entries


async def execute_tool(call: ToolCall, tools: dict[str, Tool], context: ToolContext) -> ToolOutcome:
    """Run one call; every failure becomes an error result the model can read, never a crash."""
    tool = tools.get(call.name)
    if tool is None:
        available = ", ".join(sorted(tools)) or "none"
        return ToolOutcome(
            call,
            f"Tool {call.name!r} is not available to this agent (available: {available}).",
            True,
        )
    problems = sorted(
        Draft202012Validator(tool.parameters).iter_errors(call.arguments),
        key=lambda e: list(e.path),
    )
    if problems:
        detail = "; ".join(
            f"{'/'.join(str(p) for p in err.path) or 'arguments'}: {err.message}"
            for err in problems
        )
        return ToolOutcome(call, f"Invalid arguments for {call.name}: {detail}", True)
    try:
        result = await asyncio.wait_for(tool.run(context, call.arguments), TOOL_TIMEOUT)
    except ToolError as exc:
        return ToolOutcome(call, str(exc), True)
    except TimeoutError:
        return ToolOutcome(
            call, f"{call.name} did not finish within {TOOL_TIMEOUT:.0f} seconds.", True
        )
    except Exception as exc:  # a broken tool must not end the turn
        return ToolOutcome(call, f"{call.name} failed: {type(exc).__name__}: {exc}", True)
    if len(result) > MAX_TOOL_RESULT_CHARS:
        result = result[:MAX_TOOL_RESULT_CHARS] + "\n[truncated]"
    return ToolOutcome(call, result, False)


def arguments_json(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False, sort_keys=True)
