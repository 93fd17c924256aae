"""An encrypted text field for secrets at rest (API keys, OAuth tokens).

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under the keys in
``settings.MOSAIC_ENCRYPTION_KEYS``: the first key encrypts, every key decrypts, so a key is
rotated by putting a new one first, running ``manage.py rotate_encryption_keys`` and then
dropping the old one.

Why not a package: django-fernet-fields does not import on Django 4+, and
django-fernet-encrypted-fields returns the *ciphertext* as if it were the value when no key
matches. Here a value that does not decrypt raises ``DecryptionError`` naming the column and the
likely cause; ciphertext is never handed back as plaintext.

Ciphertext is not deterministic (a fresh IV every time), so the only lookup such a column allows
is ``isnull``: filtering on a secret's value would silently match nothing.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlparse

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured, ValidationError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression, Lookup

# Every Fernet token starts with version byte 0x80, which is "gAAAAA" in urlsafe base64.
FERNET_PREFIX = "gAAAAA"


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any key in MOSAIC_ENCRYPTION_KEYS."""


@functools.lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "MOSAIC_ENCRYPTION_KEYS is empty: give one or more Fernet keys, comma-separated."
        )
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"MOSAIC_ENCRYPTION_KEYS entry {position} is not a Fernet key (32 url-safe "
                "base64-encoded bytes); generate one with `python -c 'from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())'`."
            ) from None
    return MultiFernet(fernets)


def encryption_keys() -> MultiFernet:
    """The MultiFernet of the configured keys (read from settings each call, built once per set)."""
    return _multifernet(tuple(settings.MOSAIC_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return encryption_keys().encrypt(plaintext.encode()).decode()


def decrypt(token: str, *, where: str = "a secret") -> str:
    try:
        return encryption_keys().decrypt(token.encode()).decode()
    except InvalidToken:
        if not token.startswith(FERNET_PREFIX):
            raise DecryptionError(
                f"{where} does not hold a Fernet token: the column was written without "
                "encryption or has been tampered with."
            ) from None
        raise DecryptionError(
            f"{where} cannot be decrypted with any key in MOSAIC_ENCRYPTION_KEYS: the key that "
            "encrypted it was removed or changed. Put that key back (after the new one) and "
            "run `manage.py rotate_encryption_keys`."
        ) from None


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A ``TextField`` whose database column holds only Fernet ciphertext.

    ``""`` is stored as ``""`` (there is no secret to hide, and it keeps "not set" cheap to see);
    ``None`` as NULL. Everything else is encrypted on the way in and decrypted on the way out.
    """

    description = "Text encrypted with the keys in MOSAIC_ENCRYPTION_KEYS"

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))

    def from_db_value(
        self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper
    ) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value, where=f"{self.model._meta.db_table}.{self.column}")

    def get_lookup(self, lookup_name: str) -> type[Lookup[Any]] | None:
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.name} is encrypted with a random IV: it cannot be filtered with "
                f"'{lookup_name}', only with 'isnull'."
            )
        return super().get_lookup(lookup_name)


def validate_http_url(value: str) -> None:
    """An http(s) URL with a host. Looser than Django's URLValidator on purpose: internal names
    without a dot (``http://ollama:11434`` in a compose file, ``http://gpu-box:11434``) are
    exactly what a self-hosted base URL often looks like."""
    if not value:
        return
    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValidationError("Enter a valid http:// or https:// URL.", code="invalid") from None
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or any(c.isspace() for c in value)
    ):
        raise ValidationError("Enter a valid http:// or https:// URL.", code="invalid")


def encrypted_fields(model: type[models.Model]) -> list[EncryptedTextField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
