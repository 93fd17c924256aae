"""A small test client for the chat socket, over Channels' communicator or a real websocket."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from channels.testing import WebsocketCommunicator

from mosaic.asgi import application

FRAME_TIMEOUT = 15.0


class ChatClient:
    """Send frames, read frames; ``until`` collects frames up to the first of a given type."""

    def __init__(self, transport: Any, *, is_communicator: bool) -> None:
        self.transport = transport
        self.is_communicator = is_communicator
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, token: str) -> ChatClient:
        communicator = WebsocketCommunicator(
            application, "/ws/chat/", headers=[(b"authorization", f"Bearer {token}".encode())]
        )
        connected, _ = await communicator.connect()
        assert connected, "the socket was refused"
        return cls(communicator, is_communicator=True)

    @classmethod
    async def connect_url(cls, url: str, token: str) -> ChatClient:
        import websockets

        ws = await websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
        )
        return cls(ws, is_communicator=False)

    async def send(self, frame: dict[str, Any]) -> None:
        if self.is_communicator:
            await self.transport.send_json_to(frame)
        else:
            await self.transport.send(json.dumps(frame))

    async def send_raw(self, text: str) -> None:
        if self.is_communicator:
            await self.transport.send_to(text_data=text)
        else:
            await self.transport.send(text)

    async def recv(self, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        if self.is_communicator:
            frame = await self.transport.receive_json_from(timeout=timeout)
        else:
            frame = json.loads(await asyncio.wait_for(self.transport.recv(), timeout))
        self.received.append(frame)
        return dict(frame)

    async def nothing(self, timeout: float = 1.0) -> bool:
        """True if no frame arrives within ``timeout`` (without cancelling the application)."""
        if self.is_communicator:
            return bool(await self.transport.receive_nothing(timeout=timeout))
        try:
            frame = await asyncio.wait_for(self.transport.recv(), timeout)
        except TimeoutError:
            return True
        self.received.append(json.loads(frame))
        return False

    async def until(self, frame_type: str, timeout: float = FRAME_TIMEOUT) -> list[dict[str, Any]]:
        frames = []
        while True:
            frame = await self.recv(timeout)
            frames.append(frame)
            if frame["type"] == frame_type:
                return frames

    async def open(self, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        await self.send(
            {"type": "conversation:open", **{k: v for k, v in fields.items() if v is not None}}
        )
        info = await self.recv()
        assert info["type"] == "session:info", info
        history = await self.recv()
        assert history["type"] == "conversation:history", history
        return info, history

    async def say(self, content: str, client_id: str | None = None) -> list[dict[str, Any]]:
        """Send a message and return every frame up to and including message:done."""
        await self.send(
            {"type": "message:send", "content": content, "client_id": client_id or uuid.uuid4().hex}
        )
        return await self.until("message:done")

    async def command(self, command: str, **args: Any) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "command:execute", "command": command}
        if args:
            frame["args"] = args
        await self.send(frame)
        frames = await self.until("command:result")
        return frames[-1]

    async def close(self) -> None:
        if self.is_communicator:
            await self.transport.disconnect()
        else:
            await self.transport.close()


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "message:delta")


def of_type(frames: list[dict[str, Any]], frame_type: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == frame_type]
