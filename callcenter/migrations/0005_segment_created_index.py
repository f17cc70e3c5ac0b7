"""An index on (created_at, id) of transcript segments, for newest-first search.

On PostgreSQL it is built CONCURRENTLY: a table of millions of segments keeps taking the live
calls' writes while it builds. Elsewhere (SQLite) it is a plain CREATE INDEX.
"""

from django.db import migrations, models

INDEX = models.Index(fields=["created_at", "id"], name="segment_created")


def create_index(apps, schema_editor):
    model = apps.get_model("callcenter", "TranscriptSegment")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS segment_created "
            "ON callcenter_transcriptsegment (created_at, id)"
        )
    else:
        schema_editor.add_index(model, INDEX)


def drop_index(apps, schema_editor):
    model = apps.get_model("callcenter", "TranscriptSegment")
    schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("callcenter", "0004_supervisor_control")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex("transcriptsegment", INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        )
    ]
