"""The hand-written hot-path reads (`core.statements`) read what the ORM queries they
replace read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test import override_settings

from accounts.models import User
from billing.models import LedgerEntry, Wallet
from chat import context
from chat.models import Conversation, Message, RequestLog
from core import statements
from retrieval import index
from retrieval.models import IndexState, user_scope

pytestmark = pytest.mark.django_db


def test_the_history_is_the_newest_answered_messages_of_the_conversation(user: User) -> None:
    conversation = Conversation.objects.create(user=user, title="long")
    other = Conversation.objects.create(user=user, title="other")
    for number in range(8):
        status = Message.Status.FAILED if number == 5 else Message.Status.OK
        role = Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT
        Message.objects.create(
            conversation=conversation, role=role, content=f"turn {number}", status=status
        )
        Message.objects.create(conversation=other, role=role, content=f"elsewhere {number}")

    with override_settings(CHAT_HISTORY_MESSAGES=4):
        kept = context.history(conversation.pk)

    by_orm = (
        Message.objects.filter(conversation=conversation, status=Message.Status.OK)
        .order_by("-id")
        .values_list("role", "content")[:4]
    )
    assert [(m.role, m.content) for m in kept] == list(reversed(by_orm))
    assert [m.content for m in kept] == ["turn 3", "turn 4", "turn 6", "turn 7"]


def test_the_index_states_are_the_scopes_rows_by_scope(user: User) -> None:
    for scope, version in (("shared", 4), (user_scope(user.pk), 9), ("user-999", 2)):
        IndexState.objects.create(
            scope=scope, embedder="hashing", dim=384, high=version, stamp=f"s{version}"
        )

    found = index.states([user_scope(user.pk), "shared", "user-nobody"])

    def fields(state: IndexState) -> dict[str, Any]:
        return {name: getattr(state, name) for name in index.STATE_FIELDS}

    by_orm = IndexState.objects.filter(scope__in=[user_scope(user.pk), "shared"])
    assert [fields(s) for s in found] == [fields(s) for s in by_orm.order_by("scope")]
    assert [s.scope for s in found] == ["shared", user_scope(user.pk)]


def test_a_field_that_is_no_column_is_refused() -> None:
    with pytest.raises(ValueError, match="not a column"):
        statements.column(User, "groups")
    with pytest.raises(ValueError, match="not a column"):
        statements.column(User, "chunks")  # a reverse relation


def _row(instance: Any, *, without: tuple[str, ...] = ("id", "created_at", "updated_at")) -> dict:
    """The stored row, read back through the ORM, less the columns that differ by nature."""
    stored = type(instance).objects.filter(pk=instance.pk).values().get()
    return {name: value for name, value in stored.items() if name not in without}


def _pairs(user: User, staff: User) -> list[tuple[Any, Any]]:
    """Two unsaved instances of each model the chat writes by hand, with the same values."""
    conversation = Conversation.objects.create(user=user, title="for the messages")

    def message() -> Message:  # defaults, JSON, an address, a choice not the default
        return Message(
            conversation_id=conversation.pk,
            role=Message.Role.ASSISTANT,
            content="Ünïcode ✓ and 'quotes'",
            client_ip="2001:db8::1",
            sources=[{"source": "faq.md", "kind": "doc", "score": 0.5}],
            status=Message.Status.PENDING,
        )

    def entry() -> LedgerEntry:  # a foreign key set, and one left null
        return LedgerEntry(
            wallet_id=user.pk, username="alice", delta=-100, balance_after=3900, kind="top_up"
        )

    def log() -> RequestLog:
        return RequestLog(
            user_id=user.pk, username="alice", request_text="hi", streamed=True, status="ok"
        )

    staffed = entry()
    staffed.created_by = staff
    return [
        (Conversation(user_id=user.pk, title="t"), Conversation(user_id=user.pk, title="t")),
        (message(), message()),
        (entry(), entry()),
        (staffed, LedgerEntry(**{**_fields(staffed), "created_by": staff})),
        (log(), log()),
    ]


def _fields(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_an_insert_by_hand_stores_the_row_the_orm_stores(user: User, staff: User) -> None:
    for by_orm, by_hand in _pairs(user, staff):
        by_orm.save(force_insert=True)

        assert statements.insert(by_hand) is by_hand

        assert by_hand.pk is not None
        assert by_hand.pk != by_orm.pk
        assert _row(by_hand) == _row(by_orm)
        # auto_now_add is set on the instance as on the row, and the instance counts as saved
        assert by_hand.created_at == type(by_hand).objects.get(pk=by_hand.pk).created_at
        assert by_hand._state.adding is False


def test_a_batch_insert_stores_the_rows_the_orm_stores_and_sets_their_keys_in_order(
    user: User, staff: User
) -> None:
    pairs = _pairs(user, staff)[1:]  # messages, ledger entries and request logs
    for model in {type(by_orm) for by_orm, _ in pairs}:
        by_orm = [a for a, _ in pairs if type(a) is model]
        by_hand = [b for _, b in pairs if type(b) is model]
        model.objects.bulk_create(by_orm)

        assert statements.insert_all(by_hand) == by_hand

        assert [_row(b) for b in by_hand] == [_row(a) for a in by_orm]
        assert all(b._state.adding is False for b in by_hand)
        ids = [b.pk for b in by_hand]
        assert ids == sorted(ids) and min(ids) > max(a.pk for a in by_orm)


def test_a_batch_insert_larger_than_a_statement_takes_keeps_every_row_in_order(
    user: User, monkeypatch: Any
) -> None:
    conversation = Conversation.objects.create(user=user, title="many")
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: 3)
    messages = [
        Message(conversation=conversation, role="user", content=f"turn {n}") for n in range(8)
    ]

    statements.insert_all(messages)

    stored = dict(Message.objects.values_list("pk", "content"))
    assert [stored[m.pk] for m in messages] == [f"turn {n}" for n in range(8)]


def test_a_batch_insert_that_ignores_conflicts_leaves_existing_rows_as_they_were() -> None:
    IndexState.objects.create(scope="shared", embedder="hashing", dim=384, high=7)

    statements.insert_all(
        [
            IndexState(scope="user-1", embedder="hashing", dim=384),
            IndexState(scope="shared", embedder="other", dim=8),
        ],
        ignore_conflicts=True,
    )

    rows = IndexState.objects.order_by("scope").values_list("scope", "embedder", "high")
    assert list(rows) == [("shared", "hashing", 7), ("user-1", "hashing", 0)]
    assert statements.insert_all([]) == []


@pytest.mark.django_db(transaction=True)
def test_a_batch_insert_is_all_or_nothing_across_its_statements(monkeypatch: Any) -> None:
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: 1)
    states = [IndexState(scope=scope, embedder="hashing", dim=384) for scope in "abca"]

    with pytest.raises(IntegrityError):
        statements.insert_all(states)  # the fourth statement breaks the scopes' uniqueness

    assert not IndexState.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_index_states_are_locked_only_inside_a_transaction() -> None:
    IndexState.objects.create(scope="shared", embedder="hashing", dim=384)

    with pytest.raises(TransactionManagementError):
        index.states(["shared"], for_update=True)
    with transaction.atomic():
        assert [s.scope for s in index.states(["shared"], for_update=True)] == ["shared"]
    assert index.states([]) == []


def test_an_insert_made_early_writes_the_values_it_had_then(user: User) -> None:
    conversation = Conversation.objects.create(user=user, title="later")
    early = statements.Insert(Message(conversation=conversation, role="user", content="first"))
    early.instance.content = "changed after"  # too late: the values were converted already
    assert not Message.objects.exists()

    written = early.run()

    assert written.pk is not None
    assert Message.objects.get(pk=written.pk).content == "first"


def test_an_insert_by_hand_is_refused_for_a_model_without_an_automatic_key(user: User) -> None:
    with pytest.raises(ValueError, match="automatic key"):
        statements.insert(Wallet(user_id=user.pk))  # its key is the user


def test_an_update_changes_only_the_rows_every_condition_matches(user: User, staff: User) -> None:
    mine = Conversation.objects.create(user=user, title="mine")
    theirs = Conversation.objects.create(user=staff, title="theirs")
    later = mine.updated_at + timedelta(hours=1)

    assert statements.update(Conversation, {"id": theirs.pk, "user_id": user.pk}, title="x") == 0
    changed = statements.update(
        Conversation, {"id": mine.pk, "user_id": user.pk}, title="renamed", updated_at=later
    )

    assert changed == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.title, mine.updated_at) == ("renamed", later)
    assert theirs.title == "theirs"


def test_updates_of_one_model_by_other_fields_each_set_and_match_their_own(user: User) -> None:
    conversation = Conversation.objects.create(user=user, title="shapes")
    message = Message.objects.create(conversation=conversation, role="user", content="q")

    # Each shape's statement is written once and kept: the next shape must not get it.
    statements.update(Message, {"id": message.pk}, status=Message.Status.OK)
    statements.update(Message, {"id": message.pk, "role": "user"}, content="asked")
    statements.update(Message, {"id": message.pk}, tokens_charged=7, status=Message.Status.FAILED)
    assert statements.update(Message, {"id": message.pk, "role": "assistant"}, content="x") == 0

    message.refresh_from_db()
    assert (message.status, message.content, message.tokens_charged) == (
        Message.Status.FAILED,
        "asked",
        7,
    )


def test_an_update_without_values_or_conditions_is_refused(user: User) -> None:
    Conversation.objects.create(user=user, title="kept")
    with pytest.raises(ValueError, match="conditions"):
        statements.update(Conversation, {}, title="everything")
    with pytest.raises(ValueError, match="values"):
        statements.update(Conversation, {"user_id": user.pk})
    assert list(Conversation.objects.values_list("title", flat=True)) == ["kept"]


def test_an_update_converts_its_values_as_the_orm_does(user: User) -> None:
    conversation = Conversation.objects.create(user=user, title="json")
    message = Message.objects.create(conversation=conversation, role="user", content="q")
    sources = [{"source": "a.md", "score": 1.5}]

    statements.update(Message, {"id": message.pk}, sources=sources, client_ip="10.0.0.1")

    message.refresh_from_db()
    assert (message.sources, message.client_ip) == (sources, "10.0.0.1")


def test_a_literal_is_the_constant_it_quotes(user: User) -> None:
    tricky = "it's a 'quoted' value; -- not a comment"
    assert statements.literal("ok") == "'ok'"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {statements.literal(tricky)}")  # noqa: S608
        assert cursor.fetchone() == (tricky,)
