"""The index search uses, built without blocking writes (CREATE INDEX CONCURRENTLY).

``message_search_scoped`` is a GIN index over the searchable rows (user and assistant) of their
words plus a few lexemes that say whose row it is and when it was written:
``message_search_scope(owner_id, created_at)`` gives ``#<owner>`` and, for levels 0 to 4,
``#<owner>@<level>.<block>``: the row's day (level 0), its block of 4 days (level 1), of 16, 64
and 256 days. The embedded PostgreSQL has no btree_gin, so the owner cannot be a column of a
GIN index; as a lexeme it can, and a query ``words & #42`` reads only user 42's postings of the
words, ``words & (#42@2.1299 | ...)`` only the matches of a stretch of time
(conversations/search.py). The function is SQL, immutable and inlined by the planner, so a
query spells ``search_vector || message_search_scope(owner_id, created_at)`` to use the index.

``message_search_recent``: one user's searchable rows newest first, which a prefix search walks
before it asks the GIN index (a prefix is matched against every user's words there).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

SCOPE_FUNCTION = """
CREATE OR REPLACE FUNCTION message_search_scope(owner integer, at timestamptz) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_to_tsvector(ARRAY[
    '#' || owner::text,
    '#' || owner::text || '@0.'
        || div(extract(epoch FROM at - '1970-01-01 00:00:00+00'::timestamptz), 86400)::text,
    '#' || owner::text || '@1.'
        || div(extract(epoch FROM at - '1970-01-01 00:00:00+00'::timestamptz), 345600)::text,
    '#' || owner::text || '@2.'
        || div(extract(epoch FROM at - '1970-01-01 00:00:00+00'::timestamptz), 1382400)::text,
    '#' || owner::text || '@3.'
        || div(extract(epoch FROM at - '1970-01-01 00:00:00+00'::timestamptz), 5529600)::text,
    '#' || owner::text || '@4.'
        || div(extract(epoch FROM at - '1970-01-01 00:00:00+00'::timestamptz), 22118400)::text
])
"""

SCOPED_INDEX = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS message_search_scoped ON conversations_message
USING gin ((search_vector || message_search_scope(owner_id, created_at)))
WHERE role IN ('user', 'assistant')
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("conversations", "0002_message_owner")]

    operations = [
        migrations.RunSQL(
            SCOPE_FUNCTION, "DROP FUNCTION IF EXISTS message_search_scope(integer, timestamptz)"
        ),
        migrations.RunSQL(SCOPED_INDEX, "DROP INDEX CONCURRENTLY IF EXISTS message_search_scoped"),
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(
                condition=models.Q(("role__in", ("user", "assistant"))),
                fields=["owner", "-created_at", "-id"],
                name="message_search_recent",
            ),
        ),
        migrations.RunSQL("ANALYZE conversations_message", migrations.RunSQL.noop),
    ]
