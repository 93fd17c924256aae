"""ASGI entry point (``mosaic.asgi:application``): HTTP through Django, sockets through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from accounts.auth import SocketAuthMiddleware  # noqa: E402 - needs the app registry loaded
from accounts.socket_access import AccessEndMiddleware  # noqa: E402
from mosaic.ws_urls import websocket_urlpatterns  # noqa: E402


class BrowserOriginValidator(OriginValidator):  # type: ignore[misc]
    """Browsers must come from one of ALLOWED_HOSTS; clients without an Origin pass through.

    The Origin check defends cookie-authenticated browser sockets against cross-site hijacking.
    Terminal clients send no Origin and must authenticate with a bearer token, which a foreign
    page cannot attach, so refusing them (Channels' default) would protect nothing; a socket
    without an Origin is never authenticated by its cookie (``SocketAuthMiddleware``).
    """

    def valid_origin(self, parsed_origin: object) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Browsers send an Origin header, which must be one of ALLOWED_HOSTS (cross-site socket
        # hijacking); terminal clients send none and authenticate with a bearer token.
        "websocket": BrowserOriginValidator(
            SocketAuthMiddleware(
                # A logout, a revoked token or a deactivated user ends the sockets that came in
                # with them (accounts/socket_access.py).
                AccessEndMiddleware(URLRouter(websocket_urlpatterns))
            ),
            # A pattern without scheme matches the host on any port, as ALLOWED_HOSTS does.
            list(settings.ALLOWED_HOSTS),
        ),
    }
)

# Import the provider SDKs at start-up rather than during someone's first message (they take
# a second or two to import; a server process pays that once, before it accepts traffic).
from providers.registry import all_adapters  # noqa: E402

all_adapters()
