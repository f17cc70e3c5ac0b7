"""Full-text search over transcripts: an expression GIN index, on PostgreSQL only.

The expression matches what ``SearchVector("text", config="english")`` compiles to, so the
planner uses the index for ``callcenter.history.search_segments``. SQLite has no GIN; there the
search falls back to a substring match and this migration does nothing.
"""

from django.db import migrations

INDEX = "segment_text_search"
CREATE = (
    f"CREATE INDEX IF NOT EXISTS {INDEX} ON callcenter_transcriptsegment "
    "USING GIN (to_tsvector('english'::regconfig, COALESCE(text, '')))"
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("callcenter", "0002_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
