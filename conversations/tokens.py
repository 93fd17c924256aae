"""Cheap token estimates for context budgeting.

Exact counts need each provider's tokenizer (Anthropic's is not public; tiktoken needs files
we may not download at run time). For deciding when to checkpoint, a fast estimate with a
safety margin is enough: ~4 characters per token for ASCII text, ~1 token per character for
CJK and other multi-byte scripts, plus a small per-message overhead.
"""

from __future__ import annotations

MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    if not text:
        return MESSAGE_OVERHEAD
    chars = len(text)
    extra_bytes = len(text.encode("utf-8", "surrogatepass")) - chars
    # Multi-byte characters are mostly 2-3 bytes; count each as about one token.
    wide = extra_bytes // 2
    return (chars - wide) // 4 + wide + MESSAGE_OVERHEAD
