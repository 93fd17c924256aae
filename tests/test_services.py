"""The embedded PostgreSQL's memory settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connection

from mosaic.services import (
    POSTGRES_CONFIG,
    _configure_postgres,
    machine_memory,
    postgres_memory_settings,
)

GB = 2**30


@pytest.mark.parametrize(
    ("ram", "shared"),
    [(256 * 2**20, "128MB"), (24 * GB, "6144MB"), (64 * GB, "8192MB")],
)
def test_shared_buffers_is_a_quarter_of_the_memory_within_bounds(
    ram: int, shared: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOSAIC_POSTGRES_SHARED_BUFFERS", raising=False)
    assert postgres_memory_settings(ram)["shared_buffers"] == shared


def test_a_container_limit_below_the_machine_memory_is_the_memory(tmp_path: Path) -> None:
    unlimited, limited = tmp_path / "v2", tmp_path / "v1"
    unlimited.write_text("max\n")
    limited.write_text(f"{2 * GB}\n")
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert machine_memory([unlimited]) == physical  # "max": no limit
    assert machine_memory([unlimited, limited, tmp_path / "missing"]) == min(physical, 2 * GB)


def test_the_variable_sets_shared_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOSAIC_POSTGRES_SHARED_BUFFERS", "2GB")
    assert postgres_memory_settings(24 * GB)["shared_buffers"] == "2GB"


def test_the_config_is_included_once_and_rewritten(tmp_path: Path) -> None:
    (tmp_path / "postgresql.conf").write_text("max_connections = 100\n")
    _configure_postgres(tmp_path)
    _configure_postgres(tmp_path)
    main = (tmp_path / "postgresql.conf").read_text()
    assert main.count(f"include_if_exists = '{POSTGRES_CONFIG}'") == 1
    assert main.startswith("max_connections = 100\n")
    written = (tmp_path / POSTGRES_CONFIG).read_text()
    assert f"shared_buffers = '{postgres_memory_settings()['shared_buffers']}'" in written


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="a server of one's own")
def test_the_running_test_server_uses_them(db: None) -> None:
    # `mosaic test` started the embedded server of its state directory the same way.
    expected = postgres_memory_settings()["shared_buffers"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT setting::bigint * 8192 / 1048576 FROM pg_settings "
                       "WHERE name = 'shared_buffers'")  # fmt: skip
        (megabytes,) = cursor.fetchone()
    if expected.endswith("MB"):
        assert megabytes == int(expected[:-2])
    else:
        pytest.skip(f"MOSAIC_POSTGRES_SHARED_BUFFERS={expected} is set for this run")
