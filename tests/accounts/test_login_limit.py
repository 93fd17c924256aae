"""Failed sign-ins are limited per account and per client address (accounts/login_limit.py)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.login_limit import (
    TooManyLoginAttempts,
    login_failure_record,
    login_limit_check,
    login_success_record,
)


@pytest.fixture(autouse=True)
def _small_limits(settings: Any) -> None:
    settings.MOSAIC_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.MOSAIC_LOGIN_FAILURES_PER_ADDRESS = 5
    settings.MOSAIC_LOGIN_WINDOW_SECONDS = 600


def fail(username: str, ip: str, times: int) -> None:
    for _ in range(times):
        login_failure_record(username=username, client_ip=ip)


def test_an_account_is_refused_after_its_failures_from_any_address() -> None:
    fail("alice", "10.0.0.1", 2)
    fail("alice", "10.0.0.2", 1)
    with pytest.raises(TooManyLoginAttempts) as refused:
        login_limit_check(username="alice", client_ip="10.0.0.3")
    assert 0 < refused.value.retry_after <= 600
    assert "Try again in" in refused.value.message
    login_limit_check(username="bob", client_ip="10.0.0.3")  # others are not affected


def test_the_account_limit_ignores_the_case_and_spaces_of_the_username() -> None:
    fail("Alice ", "10.0.0.1", 3)
    with pytest.raises(TooManyLoginAttempts):
        login_limit_check(username="alice", client_ip="10.0.0.9")


def test_an_address_is_refused_after_failures_across_many_accounts() -> None:
    for name in ["a", "b", "c", "d", "e"]:
        fail(name, "10.0.0.7", 1)
    with pytest.raises(TooManyLoginAttempts):
        login_limit_check(username="f", client_ip="10.0.0.7")
    login_limit_check(username="f", client_ip="10.0.0.8")


def test_a_success_clears_the_account_but_not_the_address() -> None:
    fail("alice", "10.0.0.1", 2)
    login_success_record(username="alice", client_ip="10.0.0.1")
    fail("alice", "10.0.0.1", 2)
    login_limit_check(username="alice", client_ip="10.0.0.1")  # 2 of 3 since the success
    fail("alice", "10.0.0.1", 1)
    with pytest.raises(TooManyLoginAttempts):
        login_limit_check(username="alice", client_ip="10.0.0.1")  # address: 5 of 5
    login_success_record(username="alice", client_ip="10.0.0.1")
    with pytest.raises(TooManyLoginAttempts):
        login_limit_check(username="alice", client_ip="10.0.0.1")


def test_the_cache_keys_hold_no_username() -> None:
    from django.core.cache import cache

    fail("alice-the-user", "10.0.0.1", 1)
    keys = list(cache._cache.get_client().scan_iter("*login-failures*"))  # type: ignore[attr-defined]
    assert keys
    assert not any(b"alice-the-user" in key for key in keys)
