"""The REST API's JSON parser: DRF's, plus the checks of ``core.untrusted_json`` (no NUL
characters, bounded nesting), so that such a body is a 400 that says why rather than a 500."""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import JSONParser

from core import untrusted_json


class CheckedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise untrusted_json.UntrustedJsonError(untrusted_json.DEPTH_MESSAGE) from None
        reason = untrusted_json.problem(data)
        if reason is not None:
            raise untrusted_json.UntrustedJsonError(reason)
        return data
