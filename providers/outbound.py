"""Where a user's own credential may make the server connect: its ``base_url``.

Without a check, any user could point a credential at any host and port and use the server to
reach what only it can (its loopback, the private network, a cloud metadata address) and, from
the error text, tell closed, open and HTTP ports apart. So a base URL that a *user* sets must
resolve only to public addresses, unless staff allow its host in ``MOSAIC_USER_BASE_URL_HOSTS``
(``host`` or ``host:port``; ``*`` allows every host). Base URLs from the installation's own
configuration (settings, the environment, staff editing a system credential) are trusted.

The check runs when the URL is saved and again each time the credential is used (a name may
resolve elsewhere later). A name that does not resolve at all is let through: nothing can be
reached through it, and its use is checked again. What goes wrong through a user's base URL is
reported in one sentence whatever the failure
(``ProviderError.for_users_of_their_own_base_url``), never the library's words.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

from django.conf import settings

REFUSED = (
    "This base URL is not allowed: the server connects only to public addresses, and to hosts "
    "an administrator allows (MOSAIC_USER_BASE_URL_HOSTS)."
)


def _allowed_by_staff(host: str, port: int) -> bool:
    allowed = {entry.strip().lower() for entry in settings.MOSAIC_USER_BASE_URL_HOSTS}
    return bool({"*", host, f"{host}:{port}"} & allowed)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def user_base_url_allowed(url: str) -> bool:
    """Whether a user-set ``url`` may be connected to (see the module's docstring)."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        return False
    if _allowed_by_staff(host, port):
        return True
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return True  # resolves nowhere: nothing to reach (checked again when used)
    return all(_public(str(info[4][0])) for info in infos)
