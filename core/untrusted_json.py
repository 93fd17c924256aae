"""Checks on JSON from clients, shared by the chat socket's frames and the REST API's bodies.

Two things a client can send that the rest of Mosaic cannot take:

- a NUL character (``\\u0000``) in any string: PostgreSQL's ``text`` and ``jsonb`` cannot store
  it, so it would fail deep in a write as an internal error;
- nesting deeper than ``MAX_DEPTH``: Python's parser (and every ``json.dumps`` after it) recurses
  once per level and hits the interpreter's recursion limit, again as an internal error.

``loads`` parses and checks in one go; ``problem`` checks an already parsed value. Both walk the
value with an explicit stack, so the check itself never recurses.
"""

from __future__ import annotations

import json
from typing import Any

from core.errors import InvalidInput

# Deeper than any frame or request body Mosaic defines (a routing rule's conditions nest
# about six levels), far below the recursion limit.
MAX_DEPTH = 64

NUL_MESSAGE = "Text may not contain NUL (\\u0000) characters."
DEPTH_MESSAGE = f"JSON may not nest deeper than {MAX_DEPTH} levels."


class UntrustedJsonError(InvalidInput):
    """Parsed JSON that Mosaic does not accept; the message says why, in one sentence."""


def problem(value: Any, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``value`` (parsed JSON) cannot be accepted, or None if it can."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_MESSAGE
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return DEPTH_MESSAGE
            if isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        return NUL_MESSAGE
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text``; raise ``UntrustedJsonError`` for what ``problem`` refuses (and for nesting
    too deep for the parser itself). Invalid JSON raises ``json.JSONDecodeError`` as usual."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise UntrustedJsonError(DEPTH_MESSAGE) from None
    reason = problem(value, max_depth=max_depth)
    if reason is not None:
        raise UntrustedJsonError(reason)
    return value
