"""Secrets are encrypted at rest under MOSAIC_ENCRYPTION_KEYS, rotate, and fail loudly."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from providers.fields import DecryptionError
from providers.models import CredentialKind, ProviderCredential

pytestmark = pytest.mark.django_db

SECRET = "sk-ant-api03-plaintext-secret-value-1234"


def raw_columns(pk: Any) -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, access_token, refresh_token FROM provider_credentials WHERE id = %s",
            [pk],
        )
        row = cursor.fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def make_credential(owner: Any, **fields: Any) -> ProviderCredential:
    return ProviderCredential.objects.create(owner=owner, provider="anthropic", **fields)


def test_the_column_never_holds_the_plaintext(alice: Any) -> None:
    credential = make_credential(alice, api_key=SECRET)
    api_key, _, _ = raw_columns(credential.pk)
    assert SECRET not in api_key
    assert api_key.startswith("gAAAAA")  # a Fernet token
    assert ProviderCredential.objects.get(pk=credential.pk).api_key == SECRET


def test_oauth_tokens_are_encrypted_too(alice: Any) -> None:
    credential = make_credential(
        alice,
        kind=CredentialKind.OAUTH,
        access_token="at-secret-access",
        refresh_token="rt-secret-refresh",
    )
    _, access, refresh = raw_columns(credential.pk)
    assert "at-secret-access" not in access
    assert "rt-secret-refresh" not in refresh
    fresh = ProviderCredential.objects.get(pk=credential.pk)
    assert (fresh.access_token, fresh.refresh_token) == ("at-secret-access", "rt-secret-refresh")


def test_the_same_secret_encrypts_differently_each_time(alice: Any, bob: Any) -> None:
    first = make_credential(alice, api_key=SECRET)
    second = make_credential(bob, api_key=SECRET)
    assert raw_columns(first.pk)[0] != raw_columns(second.pk)[0]


def test_empty_secret_stays_empty(alice: Any) -> None:
    credential = make_credential(alice, api_key=SECRET)
    assert raw_columns(credential.pk)[1:] == ("", "")


def test_value_encrypted_under_an_old_key_decrypts_after_rotation(
    alice: Any, settings: Any
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.MOSAIC_ENCRYPTION_KEYS = [old]
    credential = make_credential(alice, api_key=SECRET)

    settings.MOSAIC_ENCRYPTION_KEYS = [new, old]
    assert ProviderCredential.objects.get(pk=credential.pk).api_key == SECRET

    # New writes use the new key: readable without the old one.
    other = make_credential(alice, api_key="sk-written-after-rotation-000000", is_active=False)
    settings.MOSAIC_ENCRYPTION_KEYS = [new]
    assert ProviderCredential.objects.get(pk=other.pk).api_key == "sk-written-after-rotation-000000"


def test_a_wrong_key_fails_loudly_and_never_returns_ciphertext(alice: Any, settings: Any) -> None:
    settings.MOSAIC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    credential = make_credential(alice, api_key=SECRET)

    settings.MOSAIC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError, match="MOSAIC_ENCRYPTION_KEYS") as excinfo:
        ProviderCredential.objects.get(pk=credential.pk)
    assert "provider_credentials.api_key" in str(excinfo.value)
    assert SECRET not in str(excinfo.value)


def test_plaintext_written_behind_the_fields_back_is_refused(alice: Any) -> None:
    credential = make_credential(alice, api_key=SECRET)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE provider_credentials SET api_key = %s WHERE id = %s",
            ["sk-plain", credential.pk],
        )
    with pytest.raises(DecryptionError, match="does not hold a Fernet token"):
        ProviderCredential.objects.get(pk=credential.pk)


def test_a_malformed_key_names_the_setting(alice: Any, settings: Any) -> None:
    settings.MOSAIC_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="MOSAIC_ENCRYPTION_KEYS entry 2"):
        make_credential(alice, api_key=SECRET)


def test_encrypted_fields_cannot_be_filtered_by_value(alice: Any) -> None:
    make_credential(alice, api_key=SECRET)
    with pytest.raises(FieldError, match="cannot be filtered"):
        ProviderCredential.objects.filter(api_key=SECRET).count()
    assert ProviderCredential.objects.filter(api_key__isnull=False).count() == 1


def test_rotate_command_reencrypts_every_row_under_the_first_key(
    alice: Any, bob: Any, settings: Any
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.MOSAIC_ENCRYPTION_KEYS = [old]
    first = make_credential(alice, api_key=SECRET)
    second = make_credential(
        bob, kind=CredentialKind.OAUTH, access_token="at-bob-token", refresh_token="rt-bob-token"
    )
    before = {first.pk: raw_columns(first.pk), second.pk: raw_columns(second.pk)}

    settings.MOSAIC_ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("rotate_encryption_keys", "--batch-size", "1", stdout=out)
    output = out.getvalue()
    assert "providers.ProviderCredential: 1/2 rows re-encrypted" in output
    assert "providers.ProviderCredential: 2/2 rows re-encrypted" in output

    for pk, columns in before.items():
        assert raw_columns(pk)[0] != columns[0] or columns[0] == ""
    # The old key can now go: everything decrypts with the new key alone.
    settings.MOSAIC_ENCRYPTION_KEYS = [new]
    assert ProviderCredential.objects.get(pk=first.pk).api_key == SECRET
    bobs = ProviderCredential.objects.get(pk=second.pk)
    assert (bobs.access_token, bobs.refresh_token) == ("at-bob-token", "rt-bob-token")
    assert SECRET not in raw_columns(first.pk)[0]


def test_rotate_command_stops_with_one_line_when_a_row_cannot_be_decrypted(
    alice: Any, settings: Any
) -> None:
    settings.MOSAIC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    make_credential(alice, api_key=SECRET)
    settings.MOSAIC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_encryption_keys", stdout=StringIO())
