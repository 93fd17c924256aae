"""Take anything that looks like a credential out of text that came from outside.

Upstream error messages quote back what they were sent ("Incorrect API key provided: sk-…"),
and such text travels on to error frames, API answers, stored ``last_error`` fields and logs.
``redact_secrets`` replaces each thing shaped like a key or token with ``[redacted]``; it errs on
the side of hiding: an opaque string of 32 or more letters and digits is hidden too.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_PATTERNS = (
    # Vendor keys with a known prefix: OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), OpenRouter
    # (sk-or-), Mosaic's own API tokens (mos_), GitHub and Slack style tokens.
    re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-*]{6,}"),
    re.compile(r"\bmos_[A-Za-z0-9_\-]{6,}"),
    re.compile(r"\b(?:gh[pousr]|xox[abposr])_?[A-Za-z0-9_\-]{10,}"),
    # An Authorization header or a key=value / "key": "value" pair naming a secret.
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9_\-.~+/=*]{6,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|access[_-]?token|refresh[_-]?token|token|secret|password|"
        r"authorization|x-api-key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]{4,}"
    ),
    # Any long opaque run of letters and digits (hex or base64 keys, JWT segments).
    re.compile(
        r"\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}(?:\.[A-Za-z0-9_\-]+)*"
    ),
)


def redact_secrets(text: str) -> str:
    """``text`` with every credential-shaped part replaced by ``[redacted]``."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1" + REDACTED if pattern.groups else REDACTED, text)
    return text
