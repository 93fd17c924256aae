"""Run Django's middleware chain in one worker thread per request under ASGI.

Django adapts each middleware to the mode of the handler inside it, and under ASGI the
innermost handler is async: every middleware that can run async does, and Django's
``MiddlewareMixin`` then runs each ``process_request``/``process_response`` through
``sync_to_async``. That is a dozen hand-offs between the event loop and a worker thread per
request, each waiting for the interpreter lock, which was most of an API call's fixed cost
(docs/performance.md, "The HTTP floor"). A sync-only middleware at the end of ``MIDDLEWARE``
makes every middleware outside it run synchronously, in one worker thread, entered once.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase


class SyncChainMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)
