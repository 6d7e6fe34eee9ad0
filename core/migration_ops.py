"""Operations the apps' migrations share."""

from __future__ import annotations

from django.db import migrations


def drop_index(table: str, column: str, name: str) -> migrations.RunSQL:
    """Drop a one-column index by name (as Django named it on every backend), and make it
    again when migrating back. Changing `db_index` through `AlterField` would make Django remake
    the whole table on SQLite, a copy of every row, where only the index has to go."""
    return migrations.RunSQL(
        f'DROP INDEX IF EXISTS "{name}"',
        reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
    )
