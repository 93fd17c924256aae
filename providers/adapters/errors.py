"""Helpers shared by the adapters when they turn an upstream failure into a ``ProviderError``.

Kept free of any SDK import so every adapter (Anthropic, the OpenAI family, Ollama) can use them
without pulling in another vendor's client.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import time
from collections.abc import Mapping

# A server asking us to wait longer than this is treated as "not soon": the caller falls back to
# another provider instead of sleeping. Values above the cap are clamped, not dropped, so the
# caller still learns that the wait is long.
MAX_RETRY_AFTER_SECONDS = 3600.0


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for ``httpx.Headers`` and for plain dicts alike."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """How long the upstream asked us to wait, in seconds, or None when it did not say.

    Understands, in order of precision: ``retry-after-ms`` (OpenAI and Anthropic send it
    alongside the standard header), ``retry-after`` as delta-seconds (integer or decimal), and
    ``retry-after`` as an HTTP-date (RFC 9110 section 10.2.3). Negative, non-finite or unparsable
    values give None; dates in the past give 0.
    """
    if not headers:
        return None

    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        try:
            value = float(millis.strip()) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return min(value, MAX_RETRY_AFTER_SECONDS)

    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" parses as naive; an HTTP-date is always UTC anyway
            when = when.replace(tzinfo=datetime.UTC)
        current = time.time() if now is None else now
        seconds = max(0.0, when.timestamp() - current)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS)
