"""A fake Ollama server: ``/api/chat``, ``/api/tags``, ``/api/embed`` and ``/api/version``.

Written from Ollama's API documentation (docs/api.md, docs/api/streaming.mdx, docs/api/errors.mdx,
docs/capabilities/{thinking,tool-calling,embeddings}.mdx):

- ``/api/chat`` streams by default: ``application/x-ndjson``, one JSON object per line, each
  ``{"model", "created_at", "message": {"role": "assistant", "content": <piece>}, "done": false}``
  (``message.thinking`` pieces first when the request has ``"think": true`` and the model can
  think; tool calls arrive whole, in ``message.tool_calls`` as ``{"function": {"index", "name",
  "arguments": {...}}}`` with no id), and a final ``"done": true`` object with ``done_reason``,
  ``total_duration``, ``load_duration``, ``prompt_eval_count``, ``prompt_eval_duration``,
  ``eval_count`` and ``eval_duration`` (durations in nanoseconds). With ``"stream": false`` the
  answer is that final object with the whole message.
- Errors are ``{"error": "..."}`` with a status code: 404 for a model that is not pulled, 400
  for a capability the model lacks (thinking, tools, embeddings). An error after the stream
  started is one more NDJSON line ``{"error": "..."}``, with the status still 200.
- ``/api/tags`` lists the pulled models; ``/api/embed`` returns L2-normalised vectors of the
  model's dimension (derived deterministically from a hash of each text here);
  ``/api/version`` returns ``{"version": ...}``.

Ollama needs no authentication; an ``Authorization`` header is recorded but not checked.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from mosaic.fakes.base import FakeUpstream, Fault, chunks, json_body, stall

OLLAMA_VERSION = "0.12.6"


@dataclass
class ErrorLine(Fault):
    """An ``{"error": ...}`` line sent after ``after_chunks`` lines, instead of the rest.

    The status stays 200 and the response ends after the line, as when a model runner crashes
    mid-answer. ``kind`` is "cut" so that code which only knows the base faults treats it as a
    stream that stops at the same point.
    """

    kind: Literal["status", "cut", "stall", "trickle"] = "cut"
    message: str = "an error was encountered while running the model"


@dataclass
class FakeOllamaModel:
    name: str
    family: str
    parameter_size: str
    quantization_level: str
    size: int
    embedding_dims: int | None = None
    thinking: bool = False
    tools: bool = True

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": "2025-10-01T12:00:00.000000000Z",
            "size": self.size,
            "digest": self.digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": self.family,
                "families": [self.family],
                "parameter_size": self.parameter_size,
                "quantization_level": self.quantization_level,
            },
        }


def default_models() -> list[FakeOllamaModel]:
    return [
        FakeOllamaModel("llama3.2:latest", "llama", "3.2B", "Q4_K_M", 2_019_393_189),
        FakeOllamaModel(
            "nomic-embed-text:latest",
            "nomic-bert",
            "137M",
            "F16",
            274_302_450,
            embedding_dims=768,
            tools=False,
        ),
    ]


class FakeOllama(FakeUpstream):
    provider = "ollama"
    keepalive = b""  # NDJSON has no keep-alive: a trickle is silence mid-stream here

    def __init__(self) -> None:
        super().__init__()
        self.models: list[FakeOllamaModel] = default_models()
        # Answers the next GET /api/tags or /api/version instead of the normal body.
        self.tags_fault: Fault | None = None

    def reset(self) -> None:
        super().reset()
        self.models = default_models()
        self.tags_fault = None

    def is_chat_path(self, path: str) -> bool:
        return path == "/api/chat"

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/embed", self._embed)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/version", self._version)

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    def find_model(self, name: str) -> FakeOllamaModel | None:
        # A name without a tag means ":latest".
        wanted = name if ":" in name else f"{name}:latest"
        return next((model for model in self.models if model.name == wanted), None)

    def _model_or_error(self, body: Any) -> FakeOllamaModel | web.Response:
        if not isinstance(body, dict) or not body.get("model"):
            return self._error(400, "model is required")
        model = self.find_model(str(body["model"]))
        if model is None:
            return self._error(404, f'model "{body["model"]}" not found, try pulling it first')
        return model

    @staticmethod
    def _now() -> str:
        return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")

    def _fault(self, fault: Fault) -> web.Response:
        body = fault.body if fault.body is not None else {"error": "fault"}
        return web.json_response(body, status=fault.status, headers=fault.headers)

    # --- /api/chat ---------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        model = self._model_or_error(body)
        if isinstance(model, web.Response):
            return model
        if model.embedding_dims is not None:
            return self._error(400, f'"{model.name}" does not support chat')
        if body.get("think") and not model.thinking:
            return self._error(400, f'"{model.name}" does not support thinking')
        if body.get("tools") and not model.tools:
            return self._error(
                400, f"registry.ollama.ai/library/{model.name} does not support tools"
            )
        if not isinstance(body.get("messages", []), list):
            return self._error(400, "messages must be a list")

        script = self.next_script()
        fault = script.fault
        if fault is not None and not isinstance(fault, ErrorLine):
            if fault.kind == "status":
                return self._fault(fault)
            if fault.kind == "stall":
                await stall(request, fault.seconds)
                return web.Response(status=500)

        thinking = script.thinking if body.get("think") else ""
        tool_calls = [
            {"function": {"index": index, "name": tool.name, "arguments": tool.arguments}}
            for index, tool in enumerate(script.tool_calls)
        ]
        done_reason = script.stop_reason or "stop"
        final = {
            "model": body["model"],
            "created_at": self._now(),
            "done": True,
            "done_reason": done_reason,
            "total_duration": 4_883_583_458,
            "load_duration": 1_334_875,
            "prompt_eval_count": script.input_tokens,
            "prompt_eval_duration": 342_546_000,
            "eval_count": script.output_tokens,
            "eval_duration": 4_535_599_000,
        }

        if body.get("stream", True) is False:
            if fault is not None and fault.kind == "cut":
                await self.cut(request)
                return web.Response()
            message: dict[str, Any] = {"role": "assistant", "content": script.text}
            if thinking:
                message["thinking"] = thinking
            if tool_calls:
                message["tool_calls"] = tool_calls
            return web.json_response({**final, "message": message})

        lines: list[dict[str, Any]] = []

        def piece(**message: Any) -> dict[str, Any]:
            return {
                "model": body["model"],
                "created_at": self._now(),
                "message": {"role": "assistant", "content": "", **message},
                "done": False,
            }

        lines += [piece(thinking=part) for part in chunks(thinking, script.chunk_size)]
        lines += [piece(content=part) for part in chunks(script.text, script.chunk_size)]
        if tool_calls:
            lines.append(piece(tool_calls=tool_calls))
        lines.append({**final, "message": {"role": "assistant", "content": ""}})
        if isinstance(fault, ErrorLine):
            lines = [*lines[: fault.after_chunks], {"error": fault.message}]
            script = dataclasses.replace(script, fault=None)

        response = await self.open_stream(request, "application/x-ndjson")
        encoded = [(json.dumps(line) + "\n").encode() for line in lines]
        if await self.send_chunks(request, response, encoded, script):
            await response.write_eof()
        return response

    # --- /api/embed --------------------------------------------------------------------------

    async def _embed(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        model = self._model_or_error(body)
        if isinstance(model, web.Response):
            return model
        if model.embedding_dims is None:
            return self._error(400, f'"{model.name}" does not support embeddings')
        script = self._scripts[0] if self._scripts else None
        if script is not None and script.fault is not None:
            self._scripts.popleft()
            if script.fault.kind == "stall":
                await stall(request, script.fault.seconds)
            return self._fault(script.fault)
        texts = body.get("input", [])
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            return self._error(400, "input must be a string or a list of strings")
        return web.json_response(
            {
                "model": body["model"],
                "embeddings": [fake_embedding(text, model.embedding_dims) for text in texts],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": sum(len(text.split()) for text in texts),
            }
        )

    # --- /api/tags, /api/version -------------------------------------------------------------

    async def _tags_fault(self, request: web.Request) -> web.Response | None:
        fault, self.tags_fault = self.tags_fault, None
        if fault is None:
            return None
        if fault.kind == "stall":
            await stall(request, fault.seconds)
        return self._fault(fault)

    async def _tags(self, request: web.Request) -> web.Response:
        if problem := await self._tags_fault(request):
            return problem
        return web.json_response({"models": [model.as_json() for model in self.models]})

    async def _version(self, request: web.Request) -> web.Response:
        if problem := await self._tags_fault(request):
            return problem
        return web.json_response({"version": OLLAMA_VERSION})


def fake_embedding(text: str, dims: int) -> list[float]:
    """A deterministic unit vector for ``text``: equal texts embed equally, others differ."""
    values: list[float] = []
    counter = 0
    while len(values) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values += [(number / 0xFFFFFFFF) * 2 - 1 for number in struct.unpack(">8I", digest)]
        counter += 1
    values = values[:dims]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [value / norm for value in values]
