"""OpenAI's Chat Completions wire format: the request read and checked, and the answers built.

Pure translation, no I/O: ``parse_request`` turns a request body into a ``CompletionRequest``
(a field of the wrong type is an ``ApiError`` shaped as OpenAI shapes a 400; a field it does not
know is ignored, as OpenAI ignores it), and the builders below make the response bodies, the
stream's chunks and the error bodies exactly as the ``openai`` SDK reads them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from providers.adapters.base import ToolCall, ToolChoice, ToolSpec

Role = Literal["system", "user", "assistant", "tool"]
MAX_STOP_SEQUENCES = 4


class ApiError(Exception):
    """An answer in OpenAI's error shape: ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def invalid(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param)


@dataclass(frozen=True)
class InMessage:
    """One entry of the request's ``messages``, with its text parts joined."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    messages: tuple[InMessage, ...]
    stream: bool = False
    include_usage: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    user: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return "\n\n".join(m.content for m in self.messages if m.role == "system" and m.content)

    @property
    def conversation_messages(self) -> list[InMessage]:
        return [m for m in self.messages if m.role != "system"]


# --- reading the request -------------------------------------------------------------------------


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return data


def parse_request(data: dict[str, Any]) -> CompletionRequest:
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("model", "you must provide a model parameter")
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise invalid("messages", "'messages' must be a non-empty array of message objects.")
    messages = tuple(_message(m, f"messages[{i}]") for i, m in enumerate(raw_messages))
    stream = _optional(data, "stream", bool) or False
    options = _optional(data, "stream_options", dict) or {}
    include_usage = options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise invalid("stream_options.include_usage", "'include_usage' must be a boolean.")
    n = _optional(data, "n", int)
    if n is not None and n != 1:
        raise invalid("n", "Only n=1 is supported.")
    tools = _tools(data.get("tools"))
    return CompletionRequest(
        model=model.strip(),
        messages=messages,
        stream=stream,
        include_usage=stream and include_usage,
        temperature=_temperature(data.get("temperature")),
        max_tokens=_max_tokens(data),
        stop=_stop(data.get("stop")),
        tools=tools,
        tool_choice=_tool_choice(data.get("tool_choice"), tools),
        user=_optional(data, "user", str) or "",
    )


def _optional(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if value is None:
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise invalid(name, f"'{name}' must be an integer.")
    if kind is not int and not isinstance(value, kind):
        word = {bool: "a boolean", str: "a string", dict: "an object"}.get(kind, kind.__name__)
        raise invalid(name, f"'{name}' must be {word}.")
    return value


def _text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("text", "input_text"):
                raise invalid(
                    f"{where}.content[{i}]",
                    "Only text content parts are supported (no images, audio or files).",
                )
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid(f"{where}.content[{i}].text", "'text' must be a string.")
            parts.append(text)
        return "".join(parts)
    raise invalid(f"{where}.content", "'content' must be a string or an array of text parts.")


def _message(raw: Any, where: str) -> InMessage:
    if not isinstance(raw, dict):
        raise invalid(where, f"'{where}' must be an object.")
    role = raw.get("role")
    if role == "developer":
        role = "system"
    if role not in ("system", "user", "assistant", "tool"):
        raise invalid(
            f"{where}.role",
            f"Invalid value {role!r}: supported roles are system, developer, user, assistant, tool.",
        )
    content = _text(raw.get("content"), where)
    if role == "tool":
        call_id = raw.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise invalid(f"{where}.tool_call_id", "A tool message needs its 'tool_call_id'.")
        return InMessage("tool", content, tool_call_id=call_id)
    calls: tuple[ToolCall, ...] = ()
    if role == "assistant" and raw.get("tool_calls") is not None:
        calls = _tool_calls(raw["tool_calls"], f"{where}.tool_calls")
    elif role == "user" and raw.get("content") is None:
        raise invalid(f"{where}.content", "A user message needs 'content'.")
    return InMessage(role, content, tool_calls=calls)


def _tool_calls(raw: Any, where: str) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        raise invalid(where, "'tool_calls' must be an array.")
    calls = []
    for i, call in enumerate(raw):
        here = f"{where}[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call.get("id"), str):
            raise invalid(here, "A tool call needs an 'id' and a 'function' object.")
        name, arguments = function.get("name"), function.get("arguments", "{}")
        if not isinstance(name, str) or not isinstance(arguments, str):
            raise invalid(f"{here}.function", "'name' and 'arguments' must be strings.")
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError:
            raise invalid(f"{here}.function.arguments", "'arguments' is not valid JSON.") from None
        if not isinstance(parsed, dict):
            raise invalid(f"{here}.function.arguments", "'arguments' must be a JSON object.")
        calls.append(ToolCall(call["id"], name, parsed))
    return tuple(calls)


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid("tools", "'tools' must be an array.")
    specs = []
    for i, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
        ):
            raise invalid(
                f"tools[{i}]", "Each tool must be {'type': 'function', 'function': {...}}."
            )
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise invalid(f"tools[{i}].function.name", "A function needs a 'name'.")
        description = function.get("description") or ""
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(description, str):
            raise invalid(f"tools[{i}].function.description", "'description' must be a string.")
        if not isinstance(parameters, dict):
            raise invalid(f"tools[{i}].function.parameters", "'parameters' must be an object.")
        specs.append(ToolSpec(name, description, parameters))
    return tuple(specs)


def _tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        choice: ToolChoice = raw
        return choice
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise invalid(
            "tool_choice",
            "'tool_choice' must be 'none', 'auto', 'required' or "
            "{'type': 'function', 'function': {'name': ...}}.",
        )
    if name not in {t.name for t in tools}:
        raise invalid("tool_choice", f"Tool {name!r} is not among 'tools'.")
    return ("tool", name)


def _temperature(raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise invalid("temperature", "'temperature' must be a number.")
    if not 0 <= raw <= 2:
        raise invalid("temperature", "'temperature' must be between 0 and 2.")
    return float(raw)


def _max_tokens(data: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = _optional(data, name, int)
        if value is not None:
            if value < 1:
                raise invalid(name, f"'{name}' must be at least 1.")
            return int(value)
    return None


def _stop(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise invalid("stop", "'stop' must be a string or an array of strings.")
    if len(items) > MAX_STOP_SEQUENCES:
        raise invalid("stop", f"'stop' takes at most {MAX_STOP_SEQUENCES} sequences.")
    return tuple(s for s in items if s)


# --- building the answers ------------------------------------------------------------------------


FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str, calls: list[ToolCall]) -> str:
    if calls:
        return "tool_calls"
    return FINISH_REASONS.get(stop_reason, "stop")


def tool_call_json(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": call.call_id,
        "type": "function",
        "function": {
            "name": call.name,
            "arguments": json.dumps(call.arguments, ensure_ascii=False),
        },
    }
    if index is not None:
        data["index"] = index
    return data


def usage_json(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


@dataclass
class Completion:
    """What one call answered, gathered from the turn's events."""

    id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))
    text: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    stop_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.text) if self.text or not self.calls else None,
            "refusal": None,
        }
        if self.calls:
            message["tool_calls"] = [tool_call_json(call) for call in self.calls]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish_reason(self.stop_reason, self.calls),
                }
            ],
            "usage": usage_json(self.input_tokens, self.output_tokens),
        }

    def chunk(
        self,
        delta: dict[str, Any],
        finish: str | None = None,
        *,
        include_usage: bool = False,
    ) -> bytes:
        data: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return sse(data)

    def usage_chunk(self) -> bytes:
        return sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": None,
                "choices": [],
                "usage": usage_json(self.input_tokens, self.output_tokens),
            }
        )


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def model_entry(model_id: str, owned_by: str, created: int = 0) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}
