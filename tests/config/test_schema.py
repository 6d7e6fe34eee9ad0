"""The migrated schema: every index earns what each write pays for it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection


def _indexes(table: str) -> dict[str, tuple[list[str], bool]]:
    """The table's indexes: name -> (columns, unique), primary key left out."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {
        name: (list(info["columns"]), bool(info["unique"]))
        for name, info in found.items()
        if info["index"] and not info["primary_key"] and info["columns"]
    }


@pytest.mark.django_db
def test_no_table_keeps_an_index_that_another_of_its_indexes_leads_with() -> None:
    ours = {"accounts", "billing", "chat", "orders", "retrieval"}  # Django's own are its business
    tables = sorted(
        {model._meta.db_table for model in apps.get_models() if model._meta.app_label in ours}
    )
    redundant = []
    for table in tables:
        indexes = _indexes(table)
        for name, (columns, unique) in indexes.items():
            if unique:
                continue  # it is also a constraint
            for other, (longer, _) in indexes.items():
                if (
                    other != name
                    and len(longer) > len(columns)
                    and longer[: len(columns)] == columns
                ):
                    redundant.append(f"{table}.{name} {columns}, led by {other} {longer}")

    assert redundant == []


@pytest.mark.django_db
def test_the_chat_path_writes_only_the_indexes_it_reads_by() -> None:
    # Each chat inserts two messages, a ledger entry and a memory, and used to update a
    # foreign key's own index besides the composite one that starts with the same column.
    for table, column in [
        ("chat_message", "conversation_id"),
        ("billing_ledgerentry", "wallet_id"),
        ("retrieval_chunk", "owner_id"),
        ("chat_conversation", "user_id"),
    ]:
        assert [column] not in [columns for columns, _ in _indexes(table).values()], table
