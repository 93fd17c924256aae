"""Every message carries its conversation's owner, which search filters on without a join.

Safe on a big table: the column is added empty (no rewrite), filled in batches of conversations
that commit one by one (no long transaction, no lock on the whole table), then declared NOT
NULL and tied to the conversation's owner by a composite foreign key that is added NOT VALID
and validated afterwards (validation does not block writes). The old search index is dropped
first: every backfilled row would otherwise add its words to it again, and 0003 builds the
indexes search uses now, concurrently, once the column is filled.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BATCH_MESSAGES = 20_000


def backfill_owner(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    message_table = apps.get_model("conversations", "Message")._meta.db_table
    conversation_table = Conversation._meta.db_table
    batch, size = [], 0
    rows = Conversation.objects.order_by("pk").values_list("pk", "last_sequence")
    for conversation_id, last_sequence in rows.iterator(chunk_size=2000):
        batch.append(conversation_id)
        size += last_sequence
        if size >= BATCH_MESSAGES:
            _fill(schema_editor, message_table, conversation_table, batch)
            batch, size = [], 0
    if batch:
        _fill(schema_editor, message_table, conversation_table, batch)


def _fill(schema_editor, message_table, conversation_table, conversation_ids):
    # The migration is not atomic, so each batch is a transaction of its own.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {message_table} m SET owner_id = c.owner_id FROM {conversation_table} c "  # noqa: S608 - our tables
            "WHERE c.id = ANY(%s) AND m.conversation_id = c.id AND m.owner_id IS NULL",
            [conversation_ids],
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(model_name="message", name="message_search_gin"),
        migrations.AddField(
            model_name="message",
            name="owner",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(backfill_owner, migrations.RunPython.noop, elidable=True),
        # Rows written by a server still running the old code while the batches ran.
        migrations.RunSQL(
            "UPDATE conversations_message m SET owner_id = c.owner_id "
            "FROM conversations_conversation c "
            "WHERE m.conversation_id = c.id AND m.owner_id IS NULL",
            migrations.RunSQL.noop,
            elidable=True,
        ),
        migrations.AlterField(
            model_name="message",
            name="owner",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="conversation",
            constraint=models.UniqueConstraint(
                fields=("id", "owner"), name="conversation_id_owner"
            ),
        ),
        migrations.RunSQL(
            "ALTER TABLE conversations_message ADD CONSTRAINT message_owner_is_conversation_owner "
            "FOREIGN KEY (conversation_id, owner_id) "
            "REFERENCES conversations_conversation (id, owner_id) "
            "ON UPDATE CASCADE ON DELETE CASCADE NOT VALID",
            "ALTER TABLE conversations_message DROP CONSTRAINT message_owner_is_conversation_owner",
        ),
        migrations.RunSQL(
            "ALTER TABLE conversations_message "
            "VALIDATE CONSTRAINT message_owner_is_conversation_owner",
            migrations.RunSQL.noop,
        ),
    ]
