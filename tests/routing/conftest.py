"""Fixtures for the routing tests: a fresh rule cache per test, the seeded default rules, and a
providers state where every provider is usable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.registry import PROVIDERS
from routing import cache as route_cache
from tests.conftest import seed_reference_data


@pytest.fixture(autouse=True)
def _fresh_rule_cache() -> Iterator[None]:
    # Each test's rows roll back without a version bump; never let a test see another's rules.
    route_cache.invalidate_local_cache()
    yield
    route_cache.invalidate_local_cache()


@pytest.fixture
def default_rules(db: None) -> None:
    """The seeded system rules, for tests on the plain ``db``: a transactional test elsewhere in
    the run may have flushed the data-migration rows (transactional tests are seeded by
    tests/conftest.py)."""
    seed_reference_data()
    route_cache.invalidate_local_cache()


@pytest.fixture
def every_provider_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for every provider and no health data (never probed = available)."""
    monkeypatch.setattr(route_cache, "default_usable_providers", lambda user: set(PROVIDERS))
    monkeypatch.setattr(route_cache, "default_health", dict)
