"""Settings come from the environment; a bad value stops start-up with one clear sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 50


def run_check(
    env_overrides: Mapping[str, str | None], *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "MOSAIC_ENCRYPTION_KEYS"}}
    env["MOSAIC_STATE_DIR"] = str(PROJECT_DIR / "var" / "nonexistent-settings-test")
    env["SECRET_KEY"] = GOOD_KEY
    env["MOSAIC_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 characters"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"DATABASE_URL": "mysql://db/mosaic"}, "DATABASE_URL must be a URL starting with"),
        ({"REDIS_URL": "memcached://x"}, "REDIS_URL must be a URL starting with"),
        ({"MOSAIC_ENCRYPTION_KEYS": None}, "MOSAIC_ENCRYPTION_KEYS is not set"),
        (
            {"MOSAIC_PROVIDER_HEALTH_INTERVAL": "soon"},
            "MOSAIC_PROVIDER_HEALTH_INTERVAL must be a whole number",
        ),
        ({"MOSAIC_CONTEXT_THRESHOLD": "1.5"}, "MOSAIC_CONTEXT_THRESHOLD must be between"),
        ({"ANTHROPIC_BASE_URL": "api.anthropic.com"}, "ANTHROPIC_BASE_URL must be a URL"),
        ({"SECRET_KEY": None, "SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE names"),
    ],
)
def test_bad_setting_stops_with_one_sentence_naming_the_variable(
    overrides: dict[str, str | None], variable: str
) -> None:
    result = run_check(overrides)
    assert result.returncode == 2, result.stdout + result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("f" * 64)
    result = run_check({"SECRET_KEY": None, "SECRET_KEY_FILE": str(secret)})
    assert result.returncode == 0, result.stderr


def test_production_values_pass_check_deploy() -> None:
    production = {
        "DEBUG": "false",
        "SECRET_KEY": "p-" + Fernet.generate_key().decode() + Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "mosaic.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    result = run_check(production, "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_local_defaults_warn_under_check_deploy() -> None:
    # The same check can fail: local defaults are not production settings.
    result = run_check({}, "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr + result.stdout


def test_embedded_defaults_are_postgres_and_redis_never_sqlite(settings: object) -> None:
    from django.conf import settings as django_settings

    assert django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert str(django_settings.CHANNEL_LAYERS["default"]["BACKEND"]).startswith("channels_redis.")
    assert (
        django_settings.CACHES["default"]["BACKEND"]
        == "django.core.cache.backends.redis.RedisCache"
    )
    assert str(django_settings.CELERY_BROKER_URL).startswith(("redis", "rediss", "redis+socket"))
