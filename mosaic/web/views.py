"""The web page's views: sign in, the conversation list with search, the chat view.

Thin, as every entry point: they read through the conversations selectors (scoped by the
signed-in user; another user's conversation is a 404) and render templates. The chat itself
happens in the browser, over the chat socket (docs/websocket-protocol.md), like any client.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.safestring import mark_safe

from accounts.auth import acting_user
from accounts.login_limit import (
    TooManyLoginAttempts,
    client_address,
    login_failure_record,
    login_limit_check,
    login_success_record,
)
from conversations import selectors as conversation_selectors
from conversations.search import SearchHit
from core.errors import InvalidInput, NotFound

PAGE_SIZE = 50
SIDEBAR_SIZE = 30
SEARCH_RESULTS = 50

# The page's own files only: no inline script or style, so injected markup could not run even
# if the renderer let some through. 'self' covers the page's own ws:// and wss:// socket.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

View = Callable[..., HttpResponseBase]


def with_content_security_policy(view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return wrapped


class SignInView(LoginView):
    """Django's login, with failed attempts limited per account and per client address."""

    template_name = "web/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150]
        try:
            login_limit_check(username=username, client_ip=client_address(request))
        except TooManyLoginAttempts as exc:
            # An unbound form: validating it would check the password, which must not happen.
            form = AuthenticationForm(request, initial={"username": username})
            response = self.render_to_response(
                self.get_context_data(form=form, throttled=exc.message), status=429
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        login_success_record(
            username=form.get_user().get_username(), client_ip=client_address(self.request)
        )
        return super().form_valid(form)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        login_failure_record(
            username=str(self.request.POST.get("username", ""))[:150],
            client_ip=client_address(self.request),
        )
        return super().form_invalid(form)


def _search_hit(hit: SearchHit) -> dict[str, Any]:
    """One hit of ``conversation_search`` for the page."""
    return {
        "conversation_id": hit.conversation_id,
        "conversation_title": hit.conversation_title,
        "role": hit.role,
        "created_at": hit.created_at,
        # safe_snippet escapes the message text, then adds only <mark> tags.
        "snippet": mark_safe(conversation_selectors.safe_snippet(hit.raw_snippet)),  # noqa: S308
    }


@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    """Your conversations, most recent first; with ``?q=`` the full-text search instead
    (``&as_you_type=1``, as the search box sends while one types: the last word is a prefix)."""
    user = acting_user(request)
    query = request.GET.get("q", "").strip()
    context: dict[str, Any] = {"query": query}
    if query:
        try:
            page = conversation_selectors.conversation_search(
                user=user,
                query=query,
                page_size=SEARCH_RESULTS,
                as_you_type=request.GET.get("as_you_type") == "1",
            )
            context["results"] = [_search_hit(hit) for hit in page.hits]
        except InvalidInput as exc:
            context["search_error"] = exc.message
    else:
        context["page"] = Paginator(
            conversation_selectors.conversation_list(user=user), PAGE_SIZE
        ).get_page(request.GET.get("page"))
    return render(request, "web/conversations.html", context)


@login_required
def chat(request: HttpRequest, conversation_id: uuid.UUID | None = None) -> HttpResponse:
    """The chat view: a new conversation, or one of yours resumed (anyone else's is a 404)."""
    user = acting_user(request)
    conversation = None
    if conversation_id is not None:
        try:
            conversation = conversation_selectors.conversation_get(
                user=user, conversation_id=conversation_id
            )
        except NotFound:
            raise Http404("Conversation not found.") from None
    recent = conversation_selectors.conversation_list(user=user)[:SIDEBAR_SIZE]
    return render(
        request,
        "web/chat.html",
        {
            "conversation": conversation,
            "recent": recent,
            "agent": request.GET.get("agent", "")[:64],
        },
    )
