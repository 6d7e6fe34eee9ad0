"""Hand-written statements for the chat's hot path, named from the models so they follow them.

Django's ORM spends about 1 ms of CPU building a query, several times what SQLite takes to run
a small one, and a chat makes a dozen. The few fixed-shape reads every chat makes are written
out here once instead; each has a test that it reads what the ORM query it replaces reads.

Its writes go through `insert`, `insert_all` and `update`: the same values the ORM would write
(defaults, `auto_now`, the fields' own conversions), in a statement built once per model; the
memory batches that follow chats use them too. They send no signals and run no validation, so
they are only for models nothing listens to and values the caller already checked; the key is
always the database's, and models with database defaults or generated fields are refused.

Each call looks the connection up once (`db`): `django.db.connection` is a proxy that finds
the thread's connection again on every attribute, and a field's conversion asks it several.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)


def column(model: type[models.Model], field: str) -> str:
    """The quoted ``table.column`` of a model's field (its name or attname)."""
    return f"{table(model)}.{_quoted(_field(model, field))}"


def name(model: type[models.Model], field: str) -> str:
    """The quoted column of a model's field, unqualified (as an UPDATE's SET names it)."""
    return _quoted(_field(model, field))


def _field(model: type[models.Model], field: str) -> models.Field[Any, Any]:
    found = model._meta.get_field(field)
    if not isinstance(found, models.Field) or found.many_to_many or found.column is None:
        raise ValueError(f"{model.__name__}.{field} is not a column.")
    return found


def db() -> BaseDatabaseWrapper:
    """This thread's default connection itself, not the `django.db.connection` proxy."""
    return connections[DEFAULT_DB_ALIAS]


def _quoted(field: models.Field[Any, Any]) -> str:
    return db().ops.quote_name(str(field.column))


def table(model: type[models.Model]) -> str:
    return db().ops.quote_name(model._meta.db_table)


def literal(value: str) -> str:
    """A string constant as SQL (quotes doubled), for values written into a statement rather
    than bound: SQLite plans a statement again on every run when a bound value is compared
    with a column a partial index is conditioned on. Only for the code's own constants."""
    return "'" + value.replace("'", "''") + "'"


def placeholders(count: int) -> str:
    """``%s, %s, …`` for an ``IN (…)`` of ``count`` values."""
    return ", ".join(["%s"] * count)


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of one statement on the default database."""
    with db().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def insert(instance: M) -> M:
    """Write a new instance as `Model.objects.create` would, less its signals; set its pk."""
    return Insert(instance).run()


class Insert(Generic[M]):
    """A new instance's INSERT, its values converted when it is made and written by `run`.

    Made before a transaction and run inside it, the transaction (and with it the database's
    write lock, on SQLite) lasts for the statement only, not for the conversions too.
    """

    def __init__(self, instance: M) -> None:
        conn = db()
        self.instance = instance
        self._sql, self._fields, self._returning = _insert_statement(type(instance), conn.vendor)
        self._values = _values(instance, self._fields, conn)

    def run(self) -> M:
        """Write the row; set the instance's pk."""
        conn = db()
        with conn.cursor() as cursor:
            cursor.execute(self._sql, self._values)
            pk = cursor.fetchone()[0] if self._returning else cursor.lastrowid
        instance = self.instance
        setattr(instance, type(instance)._meta.pk.attname, pk)
        instance._state.adding = False
        instance._state.db = conn.alias
        return instance


def insert_all(instances: Sequence[M], *, ignore_conflicts: bool = False) -> list[M]:
    """Write new instances of one model as `bulk_create` would, less its signals: a statement
    per batch of rows, all or none of them; their pks are set, in order.

    With ``ignore_conflicts`` a row that would break a unique constraint is left out
    (``ON CONFLICT DO NOTHING``: on SQLite too, where `bulk_create` writes ``INSERT OR IGNORE``,
    which also drops rows failing NOT NULL or CHECK; here those raise) and no pk is set, since
    which rows were left out is not known.
    """
    if not instances:
        return []
    model, conn = type(instances[0]), db()
    head, fields, returning = _insert_parts(model, conn.vendor)
    if not (ignore_conflicts or conn.features.can_return_rows_from_bulk_insert):
        with transaction.atomic(savepoint=False):
            return [insert(instance) for instance in instances]  # no pks from a batch
    size = max(1, conn.ops.bulk_batch_size(fields, instances))
    row = f"({placeholders(len(fields))})"
    with transaction.atomic(savepoint=False), conn.cursor() as cursor:
        for begin in range(0, len(instances), size):
            batch = instances[begin : begin + size]
            sql = f"{head} VALUES {', '.join([row] * len(batch))}"
            sql += " ON CONFLICT DO NOTHING" if ignore_conflicts else returning
            cursor.execute(sql, [value for item in batch for value in _values(item, fields, conn)])
            pks = [None] * len(batch) if ignore_conflicts else [pk for (pk,) in cursor.fetchall()]
            for instance, pk in zip(batch, pks, strict=True):
                if pk is not None:
                    setattr(instance, model._meta.pk.attname, pk)
                instance._state.adding = False
                instance._state.db = conn.alias
    return list(instances)


def _values(
    instance: models.Model, fields: Sequence[models.Field[Any, Any]], conn: BaseDatabaseWrapper
) -> list[Any]:
    """The instance's values for ``fields`` as an INSERT writes them (defaults, `auto_now`)."""
    return [f.get_db_prep_save(f.pre_save(instance, True), conn) for f in fields]


@functools.cache
def _insert_statement(
    model: type[models.Model], vendor: str
) -> tuple[str, list[models.Field[Any, Any]], bool]:
    head, fields, returning = _insert_parts(model, vendor)
    return f"{head} VALUES ({placeholders(len(fields))}){returning}", fields, bool(returning)


@functools.cache
def _insert_parts(
    model: type[models.Model], vendor: str
) -> tuple[str, list[models.Field[Any, Any]], str]:
    """``INSERT INTO table (columns)``, the fields of those columns, and the ``RETURNING`` of
    the key (empty where the database cannot return it)."""
    meta = model._meta
    if meta.parents or meta.auto_field is None:
        raise ValueError(f"{model.__name__} is not a single table with an automatic key.")
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
    if any(f.generated or f.db_default is not models.NOT_PROVIDED for f in fields):
        raise ValueError(f"{model.__name__} has columns the database fills in.")
    head = f"INSERT INTO {table(model)} ({', '.join(_quoted(f) for f in fields)})"  # noqa: S608
    returning = ""
    if db().features.can_return_columns_from_insert:
        returning = f" RETURNING {_quoted(meta.auto_field)}"
    return head, fields, returning


def update(model: type[models.Model], where: Mapping[str, Any], **values: Any) -> int:
    """``UPDATE … SET values WHERE field = value AND …``; the number of rows it changed.

    Fields are named as in the model (``"id"``, ``"user_id"``); the values are converted as the
    ORM converts them (`auto_now` is not applied: pass the time if it should move). A condition
    on None matches nothing, as ``= NULL`` does.
    """
    if not values or not where:
        raise ValueError("An update needs values to set and conditions to match.")
    conn = db()
    sql, sets, conditions = _update_statement(model, conn.vendor, tuple(values), tuple(where))
    params = [f.get_db_prep_save(v, conn) for f, v in zip(sets, values.values(), strict=True)]
    params += [
        f.get_db_prep_value(v, conn, prepared=False)
        for f, v in zip(conditions, where.values(), strict=True)
    ]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


@functools.cache
def _update_statement(
    model: type[models.Model], vendor: str, sets: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, list[models.Field[Any, Any]], list[models.Field[Any, Any]]]:
    """`update`'s statement for these fields, written once per shape (``vendor`` keys the
    cache, since quoting is the backend's)."""
    set_fields = [_field(model, name) for name in sets]
    conditions = [_field(model, name) for name in where]
    sql = (
        f"UPDATE {table(model)} SET {', '.join(f'{_quoted(f)} = %s' for f in set_fields)} "  # noqa: S608
        f"WHERE {' AND '.join(f'{_quoted(f)} = %s' for f in conditions)}"
    )
    return sql, set_fields, conditions
