"""docs/architecture/channel-protocol.md names every canonical type of agents/channel.py and every
protocol v1 frame type, so that a type added to either without its design fails here."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from agents import channel
from agents.protocol import CLIENT_TYPES, SERVER_TYPES

DOC = (
    Path(__file__).resolve().parents[2] / "docs" / "architecture" / "channel-protocol.md"
).read_text(encoding="utf-8")
CANONICAL_TYPES = sorted(
    name
    for name, value in vars(channel).items()
    if inspect.isclass(value) and value.__module__ == channel.__name__
)


def test_the_module_defines_the_types_the_design_names() -> None:
    assert {"CanonicalMessage", "ChannelAdapter", "TextStreamed", "PostMessage"} <= set(
        CANONICAL_TYPES
    )


@pytest.mark.parametrize("name", CANONICAL_TYPES)
def test_every_canonical_type_is_named_in_the_design(name: str) -> None:
    assert f"`{name}`" in DOC


@pytest.mark.parametrize("frame_type", [*CLIENT_TYPES, *SERVER_TYPES])
def test_every_v1_frame_type_is_named_in_the_design(frame_type: str) -> None:
    assert f"`{frame_type}`" in DOC
