"""At a million request log rows and a million ledger entries the queries the admin, the API and
the maintenance commands run stay index scans that read about as many rows as they return, or
for a report, about as many as it sums (PostgreSQL only).

Each case is EXPLAIN ANALYZEd: it must use an index on its table, never scan the table
sequentially, and read at most `max_rows` rows of it (rows returned plus rows filtered away).
An index scan that walks half the table to find a page is not counted as a success.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.db import connection
from django.db.models import QuerySet
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from billing.models import LedgerEntry, Wallet
from billing.selectors import ledger_of, usage
from chat.management.commands.prune_logs import old_rows
from chat.models import Conversation, Message, RequestLog

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans of PostgreSQL"),
    pytest.mark.django_db,
]

LOG_ROWS = 1_000_000
LEDGER_ROWS = 1_000_000
MESSAGE_ROWS = 200_000
USERS = 100
SPAN = timedelta(days=23)  # the log covers the last 23 days, one row every 2 seconds
PAGE = 100  # the admin's page size

TABLES = ["chat_requestlog", "billing_ledgerentry", "chat_message", "chat_conversation"]


# --- a million rows, once for the module -------------------------------------------------------


@dataclass(frozen=True)
class Data:
    users: list[int]
    root: User


def insert_select(
    model: type[Any], rows: int, values: dict[str, str], *, source: str = "", **params: Any
) -> None:
    """INSERT `rows` rows of `model` with one INSERT … SELECT over generate_series (`g`).

    `values` gives the SQL of some columns; every other column gets its field's default, so a
    field added later with a default needs no change here.
    """
    columns, expressions, defaults = [], [], {}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in values:
            expressions.append(values[field.column])
        else:
            defaults[field.column] = field.get_db_prep_save(field.get_default(), connection)
            expressions.append(f"%({field.column})s")
    # Names come from the models and the SQL from this module; values travel as parameters.
    table, names, selects = model._meta.db_table, ", ".join(columns), ", ".join(expressions)
    sql = f"INSERT INTO {table} ({names}) SELECT {selects} FROM generate_series(1, %(rows)s) AS g"  # noqa: S608
    sql += f" {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, {**defaults, **params, "rows": rows})


def load(users: list[int]) -> None:
    common: dict[str, Any] = {"ids": users, "n": USERS, "span": SPAN}
    spread = "now() - %(span)s * (1 - g::float / %(rows)s)"  # oldest first, up to now
    user = "(%(ids)s::bigint[])[1 + g %% %(n)s]"
    failed = "g %% 50 = 0"
    insert_select(
        RequestLog,
        LOG_ROWS,
        {
            "user_id": user,
            "username": "'plan' || (g %% %(n)s)",
            "conversation_id": "g",
            "request_text": "'question ' || g",
            "response_text": "'answer ' || g",
            "provider": "'local'",
            "model": "'tally-local-1'",
            "tokens_charged": f"CASE WHEN {failed} THEN 0 ELSE 100 END",
            "source": "'provider'",
            "status": f"CASE WHEN {failed} THEN 'provider_error' ELSE 'ok' END",
            "error_code": f"CASE WHEN {failed} THEN 'provider_timeout' ELSE '' END",
            "created_at": spread,
        },
        **common,
    )
    insert_select(
        LedgerEntry,
        LEDGER_ROWS,
        {
            "wallet_id": user,
            "username": "'plan' || (g %% %(n)s)",
            "delta": "CASE WHEN g %% 1000 = 0 THEN 500 WHEN g %% 20 = 0 THEN 100 ELSE -100 END",
            "balance_after": "1000",
            "kind": "CASE WHEN g %% 1000 = 0 THEN 'top_up' WHEN g %% 20 = 0 THEN 'refund' "
            "ELSE 'chat_charge' END",
            "reference": "'chat:' || g",
            "created_at": spread,
        },
        **common,
    )
    insert_select(
        Conversation,
        1000,
        {"user_id": user, "title": "'chat ' || g", "created_at": "now()", "updated_at": "now()"},
        **common,
    )
    insert_select(
        Message,
        MESSAGE_ROWS,
        {
            "conversation_id": "c.first + g %% 1000",
            "role": "CASE WHEN g %% 2 = 0 THEN 'user' ELSE 'assistant' END",
            "content": "'text ' || g",
            # A dead worker's few leftovers among all the settled turns.
            "status": "CASE WHEN g > %(rows)s - 4 THEN 'pending' ELSE 'ok' END",
            "created_at": spread,
        },
        source=", (SELECT min(id) AS first FROM chat_conversation) AS c",
        **common,
    )
    with connection.cursor() as cursor:
        for table in TABLES:  # VACUUM too: index-only scans need the visibility map
            cursor.execute(f"VACUUM ANALYZE {table}")


@pytest.fixture(scope="module")
def data(django_db_setup: None, django_db_blocker: Any) -> Iterator[Data]:
    """Users, 1M request log rows, a ledger and messages, committed and ANALYZEd; removed after.

    Rows are made by INSERT … SELECT generate_series: seconds, where the ORM would take minutes.
    """
    with django_db_blocker.unblock():
        try:
            users = User.objects.bulk_create(User(username=f"plan{n}") for n in range(USERS))
            Wallet.objects.bulk_create(Wallet(user=user) for user in users)
            root = User.objects.create_superuser("planroot", password="unused-plan-password")
            load([user.pk for user in users])
            yield Data(users=[user.pk for user in users], root=root)
        finally:  # committed outside any test's transaction: the next tests expect empty tables
            with connection.cursor() as cursor:
                tables = [*TABLES, "billing_wallet", "accounts_user"]
                cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


# --- reading plans ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    node: str
    table: str
    index: str
    rows_read: int


def explain(sql: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        raw = cursor.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def scans(plan: dict[str, Any]) -> Iterator[Scan]:
    if "Relation Name" in plan:
        read = plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
        read += plan.get("Rows Removed by Index Recheck", 0)
        yield Scan(
            plan["Node Type"],
            plan["Relation Name"],
            plan.get("Index Name", ""),
            int(read * plan["Actual Loops"]),
        )
    for child in plan.get("Plans", []):
        yield from scans(child)


def outline(plan: dict[str, Any], depth: int = 0) -> str:
    rows = f"rows={plan['Actual Rows']}×{plan['Actual Loops']}"
    removed = plan.get("Rows Removed by Filter")
    line = "  " * depth + f"{plan['Node Type']} {plan.get('Relation Name', '')} "
    line += f"{plan.get('Index Name', '')} {rows}" + (f" removed={removed}" if removed else "")
    return "\n".join([line, *(outline(child, depth + 1) for child in plan.get("Plans", []))])


def assert_index_scan(sql: str, table: str, max_rows: int | None) -> None:
    plan = explain(sql)
    on_table = [scan for scan in scans(plan) if scan.table == table]
    why = f"{sql[:400]}\n{outline(plan)}"
    assert on_table, f"{table} is not read at all:\n{why}"
    assert not [s for s in on_table if s.node == "Seq Scan"], f"Seq Scan on {table}:\n{why}"
    assert any(s.node in {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"} for s in on_table)
    if max_rows is not None:
        read = sum(scan.rows_read for scan in on_table)
        assert read <= max_rows, f"read {read} rows of {table} (at most {max_rows}):\n{why}"


def sql_of(queryset: QuerySet[Any]) -> str:
    """The SQL a queryset runs, parameters bound by the driver (as the server receives it)."""
    query, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    return str(connection.ops.compose_sql(query, params))  # type: ignore[attr-defined]


# --- the cases ----------------------------------------------------------------------------------


def changelist(model: type[Any], params: str, data: Data) -> QuerySet[Any]:
    """The page of rows the admin changelist shows for `?params`, as the admin builds it."""
    request = RequestFactory().get(f"/admin/?{params}")
    request.user = data.root
    model_admin = admin.site._registry[model]
    page = model_admin.get_changelist_instance(request)
    return page.queryset[: page.list_per_page]


def day_ago(days: int) -> str:
    """The filter of one day, as the admin's created_at filter writes it (aware datetimes)."""
    start = (timezone.now() - timedelta(days=days)).replace(hour=0, minute=0, second=0)
    start = start.replace(microsecond=0)
    return urlencode({"created_at__gte": start, "created_at__lt": start + timedelta(days=1)})


Case = Callable[[Data], QuerySet[Any]]
CASES: list[Any] = [
    # The request log in the admin.
    pytest.param(lambda d: changelist(RequestLog, "", d), "chat_requestlog", PAGE, id="log"),
    pytest.param(
        lambda d: changelist(RequestLog, "status__exact=provider_error", d),
        "chat_requestlog",
        PAGE,
        id="log-by-status",
    ),
    pytest.param(
        lambda d: changelist(RequestLog, f"user__id__exact={d.users[5]}", d),
        "chat_requestlog",
        PAGE,
        id="log-by-user",
    ),
    pytest.param(
        lambda d: changelist(RequestLog, day_ago(14), d),
        "chat_requestlog",
        2 * PAGE,
        id="log-of-one-day",
    ),
    # prune_logs: a batch of the oldest, and the last batch, which finds nothing.
    pytest.param(
        lambda d: old_rows(RequestLog, before=timezone.now() - timedelta(days=20)).values_list(
            "pk", flat=True
        )[:5000],
        "chat_requestlog",
        5000,
        id="prune-batch",
    ),
    pytest.param(
        lambda d: old_rows(RequestLog, before=timezone.now() - timedelta(days=90)).values_list(
            "pk", flat=True
        )[:5000],
        "chat_requestlog",
        0,
        id="prune-nothing-left",
    ),
    # The ledger: a user's history page in the API, and the admin.
    pytest.param(
        lambda d: ledger_of(user=User(pk=d.users[7]))[:20],
        "billing_ledgerentry",
        20,
        id="ledger-history-api",
    ),
    pytest.param(
        lambda d: changelist(LedgerEntry, "", d), "billing_ledgerentry", PAGE, id="ledger"
    ),
    pytest.param(
        lambda d: changelist(LedgerEntry, "kind__exact=top_up", d),
        "billing_ledgerentry",
        10 * PAGE,
        id="ledger-by-kind",
    ),
    pytest.param(
        lambda d: changelist(LedgerEntry, day_ago(14), d),
        "billing_ledgerentry",
        2 * PAGE,
        id="ledger-of-one-day",
    ),
    # Usage reports: a user's last 30 days (all of their ~10,000 entries, through an index on
    # the wallet), and staff's per-user report of one day (~43,000 entries of all users,
    # through a created_at index). Reports sum what they read: rows read ≈ rows summed.
    pytest.param(
        lambda d: usage(
            since=timezone.now() - timedelta(days=30),
            until=timezone.now(),
            group_by="day",
            wallet_id=d.users[3],
        ),
        "billing_ledgerentry",
        LEDGER_ROWS // USERS + 100,
        id="usage-of-a-user",
    ),
    pytest.param(
        lambda d: usage(
            since=timezone.now() - timedelta(days=2),
            until=timezone.now() - timedelta(days=1),
            group_by="user",
        ),
        "billing_ledgerentry",
        int(LEDGER_ROWS / SPAN.days * 1.1),
        id="usage-of-one-day-by-user",
    ),
    # reconcile_charges: the few pending questions among all messages.
    pytest.param(
        lambda d: (
            Message.objects.filter(
                role=Message.Role.USER,
                status=Message.Status.PENDING,
                created_at__lte=timezone.now() - timedelta(minutes=15),
            )
            .order_by("id")
            .values_list("pk", flat=True)
        ),
        "chat_message",
        10,
        id="reconcile-pending",
    ),
]


@pytest.mark.parametrize(("case", "table", "max_rows"), CASES)
def test_the_query_stays_an_index_scan_at_a_million_log_rows(
    data: Data, case: Case, table: str, max_rows: int
):
    assert_index_scan(sql_of(case(data)), table, max_rows)


@pytest.mark.parametrize(
    ("url", "table"),
    [
        ("/admin/chat/requestlog/?status__exact=ok", "chat_requestlog"),
        ("/admin/billing/ledgerentry/?kind__exact=refund", "billing_ledgerentry"),
    ],
)
def test_every_query_of_an_admin_page_stays_an_index_scan(data: Data, url: str, table: str):
    browser = Client()
    browser.force_login(data.root)
    with CaptureQueriesContext(connection) as queries:
        assert browser.get(url).status_code == 200
    # The paginator's COUNT(*) reads every matching row by nature (an index-only scan).
    ours = [q["sql"] for q in queries if f'"{table}"' in q["sql"] and "COUNT(*)" not in q["sql"]]
    assert ours
    for sql in ours:
        assert_index_scan(sql, table, max_rows=10 * PAGE)
