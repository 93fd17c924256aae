"""Request checks that hold for every URL, before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from core.untrusted_json import NUL_MESSAGE


class RefuseNulCharactersMiddleware:
    """A NUL character in the path or the query string is refused with a 400.

    PostgreSQL cannot take NUL in a text parameter: a search for ``x%00y`` would otherwise fail
    inside the query as an internal error. (Form fields already refuse it; JSON bodies are
    checked by ``core.parsers.CheckedJSONParser``.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            return JsonResponse({"detail": NUL_MESSAGE, "code": "invalid"}, status=400)
        return self.get_response(request)
