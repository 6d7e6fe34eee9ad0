"""Memory and chat context: a user's past exchanges come back to that user only, beside the
shared and the user's own documents, in few queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from retrieval import indexing, selectors, services
from retrieval.indexing import Exchange
from retrieval.models import Chunk, IndexState, user_scope
from tests.retrieval.conftest import search, upload

pytestmark = pytest.mark.django_db


def _remember(user: User, conversation: int, question: str, answer: str, title: str = "") -> None:
    services.remember(
        user_id=user.pk,
        conversation_id=conversation,
        question=question,
        answer=answer,
        conversation_title=title,
    )


def _queries_to_remember(batch: list[User]) -> int:
    """The queries one batch of exchanges (one for each user of ``batch``) takes."""
    with CaptureQueriesContext(connection) as queries:
        chunks = services.remember_all(
            [Exchange(u.pk, 2, f"{u.username}: tiramisu?", "Every morning.") for u in batch]
        )
    assert all(chunk is not None for chunk in chunks)
    return len(queries)


def test_a_remembered_exchange_comes_back_as_a_memory_passage(user: User) -> None:
    _remember(user, 7, "Do you have vegan cheese?", "Yes, cashew mozzarella.", "Vegan options")

    passages = selectors.passages_for(user, "that vegan cheese you mentioned")

    assert passages[0].kind == "memory"
    assert passages[0].source == 'Earlier conversation: "Vegan options"'
    assert passages[0].text == "Q: Do you have vegan cheese?\nA: Yes, cashew mozzarella."
    assert passages[0].score > 0.05


def test_passages_mix_shared_documents_own_documents_and_memories_best_first(
    user: User, user_api: APIClient, staff_api: APIClient
) -> None:
    upload(staff_api, "hours.txt", "Opening hours: noon until midnight.", shared="true")
    upload(user_api, "diet.txt", "My diet: no dairy, lots of olives.")
    _remember(user, 1, "Are olives on the margherita?", "No, but you can add olives.")

    passages = selectors.passages_for(user, "olives and opening hours", k=5)

    assert {p.kind for p in passages} == {"document", "memory"}
    assert {p.source for p in passages} >= {"hours", "diet", "Earlier conversation"}
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_a_user_never_gets_another_users_memories_or_private_documents(
    user: User, make_user: Callable[..., User], user_api: APIClient
) -> None:
    bob = make_user("bob")
    _remember(bob, 3, "What is my locker code?", "Your locker code is 4242.")
    upload(user_api, "alice.txt", "Alice keeps her locker code in her wallet.")

    bobs = selectors.passages_for(bob, "locker code", k=10)
    alices = selectors.passages_for(user, "locker code", k=10)

    assert [p.kind for p in bobs] == ["memory"]
    assert [p.source for p in alices] == ["alice"]
    assert all("4242" not in p.text for p in alices)


def test_memories_never_show_up_in_document_search(user: User, user_api: APIClient) -> None:
    _remember(user, 3, "What is my locker code?", "Your locker code is 4242.")

    assert search(user_api, "locker code") == []


def test_the_current_conversation_can_be_left_out(user: User) -> None:
    _remember(user, 1, "Tell me about calzone", "A folded pizza.")
    _remember(user, 2, "Tell me about calzone fillings", "Ricotta and ham.")

    passages = selectors.passages_for(user, "calzone", exclude_conversation=2)

    assert [p.text for p in passages] == ["Q: Tell me about calzone\nA: A folded pizza."]


def test_weak_matches_are_dropped(user: User, settings: Any) -> None:
    _remember(user, 1, "Tell me about calzone", "A folded pizza.")

    assert selectors.passages_for(user, "quantum chromodynamics") == []
    settings.RETRIEVAL_MIN_SCORE = 0.99
    assert selectors.passages_for(user, "calzone") == []


def test_forgetting_a_conversation_drops_its_memories(user: User) -> None:
    _remember(user, 1, "Tell me about calzone", "A folded pizza.")
    _remember(user, 2, "Tell me about gelato", "Pistachio is best.")

    assert services.forget(user_id=user.pk, conversation_id=1) == 1

    assert selectors.passages_for(user, "calzone") == []
    assert len(selectors.passages_for(user, "gelato")) == 1


def test_long_exchanges_are_clipped_on_a_word(user: User) -> None:
    _remember(user, 1, "Tell me everything", "word " * 1000)

    text = Chunk.objects.get(kind=Chunk.Kind.MEMORY).text

    assert len(text) < 1600
    assert text.endswith("word …")


@pytest.mark.parametrize(("hybrid", "cost"), [(True, 3), (False, 2)])
def test_a_warm_search_costs_states_rankings_and_rows_queries(
    user: User, user_api: APIClient, staff_api: APIClient, settings: Any, hybrid: bool, cost: int
) -> None:
    settings.RETRIEVAL_HYBRID = hybrid
    upload(staff_api, "hours.txt", "Opening hours: noon until midnight.", shared="true")
    upload(user_api, "diet.txt", "My diet: no dairy, lots of olives.")
    selectors.passages_for(user, "warm the cache")

    with CaptureQueriesContext(connection) as queries:
        passages = selectors.passages_for(user, "olives at midnight")

    assert len(passages) == 2
    assert len(queries) == cost, [q["sql"] for q in queries]


def test_blank_text_needs_no_work(user: User) -> None:
    assert selectors.passages_for(user, "   ") == []


def test_a_batch_remembers_each_exchange_for_its_user_and_moves_each_scope_to_its_last_chunk(
    user: User, make_user: Callable[..., User]
) -> None:
    bob = make_user("bob")
    exchanges = [
        Exchange(user.pk, 1, "Do you deliver to the harbour?", "Yes, until ten."),
        Exchange(bob.pk, 2, "Is the tiramisu homemade?", "Every morning."),
        Exchange(user.pk, 1, "   ", "An empty question is not remembered."),
        Exchange(user.pk, 3, "Can I pay with vouchers?", "Paper ones, yes."),
    ]

    chunks = services.remember_all(exchanges)

    assert [chunk is None for chunk in chunks] == [False, False, True, False]
    assert [chunk.pk if chunk else None for chunk in chunks] == [
        IndexState.objects.get(scope=user_scope(user.pk)).high - 2,
        IndexState.objects.get(scope=user_scope(bob.pk)).high,
        None,
        IndexState.objects.get(scope=user_scope(user.pk)).high,
    ]
    assert selectors.passages_for(user, "harbour delivery")[0].text.startswith("Q: Do you deliver")
    assert selectors.passages_for(user, "vouchers")[0].text.startswith("Q: Can I pay")
    assert selectors.passages_for(user, "tiramisu") == []
    assert selectors.passages_for(bob, "tiramisu")[0].text.startswith("Q: Is the tiramisu")


def test_an_exchange_that_cannot_be_written_costs_only_itself(
    user: User, make_user: Callable[..., User]
) -> None:
    bob = make_user("bob")
    # Bob's scope holds vectors of another embedder: his memory is refused, not the batch.
    IndexState.objects.create(scope=user_scope(bob.pk), embedder="openai", dim=8, high=1)
    Chunk.objects.create(owner=bob, scope=user_scope(bob.pk), kind=Chunk.Kind.MEMORY, text="x")

    chunks = services.remember_all(
        [
            Exchange(bob.pk, 2, "Is the tiramisu homemade?", "Every morning."),
            Exchange(user.pk, 1, "Do you deliver to the harbour?", "Yes, until ten."),
        ]
    )

    assert chunks[0] is None and chunks[1] is not None
    assert selectors.passages_for(user, "harbour")[0].text.startswith("Q: Do you deliver")
    assert Chunk.objects.filter(owner=bob).count() == 1


def test_a_database_error_in_a_batch_costs_only_the_exchange_it_hits(
    user: User, make_user: Callable[..., User], monkeypatch: Any
) -> None:
    bob = make_user("bob")
    real_lock_scopes = indexing.lock_scopes

    def lock_scopes(scopes: Any, **kwargs: Any) -> Any:
        if user_scope(bob.pk) in scopes:
            raise OperationalError("deadlock detected")
        return real_lock_scopes(scopes, **kwargs)

    monkeypatch.setattr(indexing, "lock_scopes", lock_scopes)
    chunks = services.remember_all(
        [
            Exchange(bob.pk, 2, "Is the tiramisu homemade?", "Every morning."),
            Exchange(user.pk, 1, "Do you deliver to the harbour?", "Yes, until ten."),
        ]
    )

    assert chunks[0] is None and chunks[1] is not None
    assert not Chunk.objects.filter(owner=bob).exists()
    assert selectors.passages_for(user, "harbour")[0].text.startswith("Q: Do you deliver")


def test_a_batch_of_known_users_costs_the_same_queries_however_many_users_it_holds(
    make_user: Callable[..., User],
) -> None:
    users = [make_user(f"regular{number}") for number in range(6)]
    for user in users:  # each scope exists already, as after a user's first chat
        _remember(user, 1, "First visit: do you deliver?", "Yes, until ten.")

    assert _queries_to_remember(users[:1]) == _queries_to_remember(users)
    for user in users:
        state = IndexState.objects.get(scope=user_scope(user.pk))
        assert state.high == Chunk.objects.filter(owner=user).latest("id").pk
        assert selectors.passages_for(user, "tiramisu")[0].text.startswith(f"Q: {user.username}")


def test_users_remembered_for_the_first_time_cost_a_batch_no_more_queries(
    make_user: Callable[..., User],
) -> None:
    # Their index states are created with the batch's, in scope order: per-user statements
    # would take locks out of that order, and two workers' batches could deadlock.
    known = [make_user(f"regular{number}") for number in range(3)]
    for user in known:
        _remember(user, 1, "First visit: do you deliver?", "Yes, until ten.")
    newcomers = [make_user(f"newcomer{number}") for number in range(3)]

    assert _queries_to_remember([*known[:1], *newcomers]) == _queries_to_remember(known)
    for user in newcomers:
        assert IndexState.objects.get(scope=user_scope(user.pk)).high > 0
        assert selectors.passages_for(user, "tiramisu")[0].text.startswith(f"Q: {user.username}")


def test_locking_scopes_creates_the_missing_states_each_with_its_own_generation(
    make_user: Callable[..., User],
) -> None:
    users = [make_user(f"regular{number}") for number in range(3)]
    _remember(users[0], 1, "First visit: do you deliver?", "Yes, until ten.")
    before = IndexState.objects.get(scope=user_scope(users[0].pk))

    with transaction.atomic():
        scopes = [user_scope(u.pk) for u in reversed(users)]
        indexing.lock_scopes(scopes, embedder="hashing", dim=384)

    states = {s.scope: s for s in IndexState.objects.filter(scope__startswith="user-")}
    assert states[before.scope].stamp == before.stamp  # an existing scope keeps its vectors
    assert [states[user_scope(u.pk)].high for u in users[1:]] == [0, 0]  # new, still empty
    assert len({s.stamp for s in states.values()}) == 3
