"""Logging out ends the browser's chat sockets, in every tab and on every server process.

A socket authenticated by the session cookie stays authenticated for its whole life: Channels
checks the session once, at connect. So each such socket also listens, through the channel
layer (Redis), on a group named for its user and session (``accounts.socket_access``, which
also ends the sockets of a revoked token or a deactivated user); Django's ``user_logged_out``
signal (sent by this page's logout and by the admin's) publishes "access ended" to that group,
and the socket is closed with code 4401, the code of an unauthenticated socket, which the page
answers with a link to sign in again. The chat consumer itself knows nothing of this.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.socket_access import end_sockets, session_group


def on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    session_key = request.session.session_key if request is not None else None
    if user is None or not session_key:
        return
    end_sockets(session_group(user.pk, session_key))
