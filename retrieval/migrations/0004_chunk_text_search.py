"""Full-text search over chunk text, for the lexical half of hybrid search: an FTS5 table kept
in step with `retrieval_chunk` by triggers on SQLite, a GIN index of the English text search
vector on PostgreSQL (`retrieval.lexical` queries the same expression). Both are built from the
rows already there."""

from django.db import migrations

SQLITE = [
    """CREATE VIRTUAL TABLE retrieval_chunk_fts USING fts5(
        text, content='retrieval_chunk', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER retrieval_chunk_fts_insert AFTER INSERT ON retrieval_chunk BEGIN
        INSERT INTO retrieval_chunk_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER retrieval_chunk_fts_delete AFTER DELETE ON retrieval_chunk BEGIN
        INSERT INTO retrieval_chunk_fts(retrieval_chunk_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER retrieval_chunk_fts_update AFTER UPDATE OF text ON retrieval_chunk BEGIN
        INSERT INTO retrieval_chunk_fts(retrieval_chunk_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO retrieval_chunk_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    "INSERT INTO retrieval_chunk_fts(retrieval_chunk_fts) VALUES ('rebuild')",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_update",
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS retrieval_chunk_fts_insert",
    "DROP TABLE IF EXISTS retrieval_chunk_fts",
]
# Hyphens, slashes and underscores become spaces first: PostgreSQL's parser would read the
# "-5581" of "HM-5581" as a negative number, and product codes must match as their parts.
POSTGRESQL = [
    "CREATE INDEX retrieval_chunk_text_search ON retrieval_chunk "
    "USING gin (to_tsvector('english'::regconfig, translate(text, '-/_', '   ')))",
]
POSTGRESQL_REVERSE = ["DROP INDEX IF EXISTS retrieval_chunk_text_search"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('retrieval', '0003_index_high_water'),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            _run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRESQL_REVERSE}),
        ),
    ]
