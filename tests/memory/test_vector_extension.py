from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
def test_vector_extension_is_installed_by_migration() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    assert row is not None, "the vector extension is missing"
    major, minor, *_ = (int(part) for part in row[0].split("."))
    assert (major, minor) >= (0, 7), row[0]


@pytest.mark.django_db
def test_vector_distance_works() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector, '[1,2]'::halfvec <-> '[1,2]'::halfvec"
        )
        cosine, l2 = cursor.fetchone()
    assert cosine == pytest.approx(1.0)
    assert l2 == pytest.approx(0.0)
