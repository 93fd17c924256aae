"""docs/websocket-protocol.md against agents/protocol.py: every frame type and every field of it
is documented, and every error code Mosaic can send is listed (and in docs/architecture.md with
its HTTP status). A new frame, field or error without documentation fails here."""

from __future__ import annotations

import importlib
import pkgutil
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from agents import protocol
from core.errors import MosaicError
from providers.adapters.base import ErrorKind

DOCS = Path(__file__).resolve().parents[2] / "docs"
PROTOCOL_DOC = (DOCS / "websocket-protocol.md").read_text(encoding="utf-8")
ARCHITECTURE_DOC = (DOCS / "architecture.md").read_text(encoding="utf-8")
APPS = ("core", "accounts", "providers", "conversations", "routing", "memory", "agents", "jobs")


def _table_row(frame_type: str) -> str:
    """The table row of the doc that documents ``frame_type``."""
    for line in PROTOCOL_DOC.splitlines():
        if line.startswith(f"| `{frame_type}` |"):
            return line
    raise AssertionError(f"docs/websocket-protocol.md has no table row for `{frame_type}`")


def _server_frame_types() -> dict[str, type]:
    frames: dict[str, type] = {}
    for member in typing.get_args(protocol.ServerFrame):
        hints = typing.get_type_hints(member)
        (frame_type,) = typing.get_args(hints["type"])
        frames[frame_type] = member
    return frames


def _client_frame_types() -> dict[str, Any]:
    (union, *_) = typing.get_args(protocol.ClientFrame)
    frames: dict[str, Any] = {}
    for member in typing.get_args(union):
        (frame_type,) = typing.get_args(member.model_fields["type"].annotation)
        frames[frame_type] = member
    return frames


def test_the_type_lists_match_the_frame_definitions() -> None:
    assert set(_client_frame_types()) == set(protocol.CLIENT_TYPES)
    assert set(_server_frame_types()) == set(protocol.SERVER_TYPES)


@pytest.mark.parametrize("frame_type", protocol.CLIENT_TYPES)
def test_every_client_frame_and_field_is_documented(frame_type: str) -> None:
    row = _table_row(frame_type)
    model = _client_frame_types()[frame_type]
    for name in model.model_fields:
        if name != "type":
            assert f"`{name}" in row, f"{frame_type}: field {name!r} is not documented"


@pytest.mark.parametrize("frame_type", protocol.SERVER_TYPES)
def test_every_server_frame_and_field_is_documented(frame_type: str) -> None:
    row = _table_row(frame_type)
    for name in typing.get_type_hints(_server_frame_types()[frame_type]):
        if name != "type":
            assert f"`{name}" in row, f"{frame_type}: field {name!r} is not documented"


def test_every_stored_message_field_is_documented() -> None:
    section = PROTOCOL_DOC.split("A stored message", 1)[1].split("\n\n", 1)[0]
    for name in typing.get_type_hints(protocol.MessagePayload):
        assert f"`{name}`" in section, f"stored message field {name!r} is not documented"


def _every_error_code() -> set[str]:
    """Every ``code`` a ``MosaicError`` can carry: class codes of every subclass in every app,
    the per-instance ones (frame errors, provider failures), and ``internal``."""
    for app in APPS:
        package = importlib.import_module(app)
        for module in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" not in module.name and ".management" not in module.name:
                importlib.import_module(module.name)
    codes = {"internal", *protocol.FRAME_ERROR_CODES}
    codes |= {f"provider_{kind.value}" for kind in ErrorKind}
    pending: list[type[MosaicError]] = [MosaicError]
    while pending:
        cls = pending.pop()
        if "code" in vars(cls):
            codes.add(vars(cls)["code"])
        pending.extend(cls.__subclasses__())
    return codes


def test_every_error_code_is_documented_for_sockets_and_http() -> None:
    socket_codes = set(
        re.findall(r"`([a-z_]+)`", PROTOCOL_DOC.split("Error codes:", 1)[1].split("\n\n", 1)[0])
    )
    http_table = ARCHITECTURE_DOC.split("## Errors", 1)[1]
    first_cells = [line.split("|")[1] for line in http_table.splitlines() if line.startswith("| `")]
    http_codes = {code for cell in first_cells for code in re.findall(r"`([a-z_]+)`", cell)}
    codes = _every_error_code()
    assert codes - socket_codes == set(), "codes missing from docs/websocket-protocol.md"
    assert codes - http_codes == set(), "codes missing from docs/architecture.md, ## Errors"
    assert {"oauth_failed", "unknown_provider", "forbidden"} <= codes  # the walk reached every app
