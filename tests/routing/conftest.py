"""Fixtures for the routing tests: a fresh rule cache per test, the seeded default rules, the
routing URLs, and a providers state where every provider is usable."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.urls import include, path

from providers.registry import PROVIDERS
from routing import engine

# Used as ROOT_URLCONF by `routing_urls` until mosaic/urls.py mounts the routing API.
urlpatterns = [
    path("api/routing/", include("routing.urls")),
    path("", include("mosaic.urls")),
]


@pytest.fixture(autouse=True)
def _fresh_rule_cache() -> Iterator[None]:
    # Each test's rows roll back without a version bump; never let a test see another's rules.
    engine.invalidate_local_cache()
    yield
    engine.invalidate_local_cache()


@pytest.fixture
def default_rules(db: None) -> None:
    """The seeded system rules. A transactional test elsewhere in the run may have flushed the
    tables (which removes data-migration rows), so seed again when they are missing."""
    rule_model = apps.get_model("routing", "RoutingRule")
    if not rule_model.objects.filter(owner__isnull=True).exists():
        migration = importlib.import_module("routing.migrations.0002_default_rules")
        migration.seed(apps, SimpleNamespace(connection=connection))
    engine.invalidate_local_cache()


@pytest.fixture
def routing_urls(settings: Any) -> None:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("routing:rules")
    except NoReverseMatch:
        settings.ROOT_URLCONF = __name__


@pytest.fixture
def every_provider_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for every provider and no health data (never probed = available)."""
    monkeypatch.setattr(engine, "default_usable_providers", lambda user: set(PROVIDERS))
    monkeypatch.setattr(engine, "default_health", dict)
