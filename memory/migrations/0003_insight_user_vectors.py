"""The covering index of each user's vectors (memory.space.COVERING_INDEX), for a column whose
size fits a B-tree entry; a column of more than 512 dimensions goes without it.

Not declared in ``Insight.Meta``: whether it exists follows the column's size, which
``memory.space`` changes at run time (an empty store adopting a model, ``manage.py reembed``).
The statement is spelt out here rather than imported, so that this migration stays what it was
when it was written."""

from typing import Any

from django.db import migrations

MAX_DIMS = 512


def create(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'memory_insight'::regclass "
            "AND attname = 'embedding' AND NOT attisdropped"
        )
        (dims,) = cursor.fetchone()
        if 0 < dims <= MAX_DIMS:
            cursor.execute(
                "CREATE INDEX IF NOT EXISTS insight_user_vectors ON memory_insight (user_id) "
                "INCLUDE (id, category, tier, embedding)"
            )


def drop(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute("DROP INDEX IF EXISTS insight_user_vectors")


class Migration(migrations.Migration):
    dependencies = [("memory", "0002_store")]
    operations = [migrations.RunPython(create, drop)]
