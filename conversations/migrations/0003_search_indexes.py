"""The indexes search uses, built without blocking writes (CREATE INDEX CONCURRENTLY).

``message_search_words``: the words of the searchable rows (user and assistant), for words
rare enough that collecting every match is cheaper than walking the user's history.
``message_search_recent``: one user's searchable rows newest first, walked when a word is
common enough that the newest matches come quickly; it also bounds a light user's search by
the size of their own history.
"""

import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("conversations", "0002_message_owner")]

    operations = [
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(
                condition=models.Q(("role__in", ("user", "assistant"))),
                fields=["owner", "-created_at", "-id"],
                name="message_search_recent",
            ),
        ),
        AddIndexConcurrently(
            model_name="message",
            index=django.contrib.postgres.indexes.GinIndex(
                condition=models.Q(("role__in", ("user", "assistant"))),
                fields=["search_vector"],
                name="message_search_words",
            ),
        ),
        migrations.RunSQL("ANALYZE conversations_message", migrations.RunSQL.noop),
    ]
