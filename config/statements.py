"""Hand-written reads for the chat's hot path, named from the models so they follow them.

Django's ORM spends about 1 ms of CPU building a query, several times what SQLite takes to run
a small one, and a chat makes a dozen. The few fixed-shape reads every chat makes are written
out here once instead; each has a test that it reads what the ORM query it replaces reads.
Writes stay with the ORM: they are where the model's defaults and validation matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def column(model: type[models.Model], field: str) -> str:
    """The quoted ``table.column`` of a model's field (its name or attname)."""
    return f"{table(model)}.{_quoted(_field(model, field))}"


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    found = model._meta.get_field(name)
    if not isinstance(found, models.Field) or found.many_to_many or found.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column.")
    return found


def _quoted(field: models.Field[Any, Any]) -> str:
    return connection.ops.quote_name(str(field.column))


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def placeholders(count: int) -> str:
    """``%s, %s, …`` for an ``IN (…)`` of ``count`` values."""
    return ", ".join(["%s"] * count)


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of one statement on the default database."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
