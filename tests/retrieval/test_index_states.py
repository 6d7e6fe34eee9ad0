"""The scopes' index states as a search and a memory batch read them: by scope, locked only
inside a transaction."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from accounts.models import User
from retrieval import index
from retrieval.models import IndexState, user_scope

pytestmark = pytest.mark.django_db


def test_the_index_states_are_the_scopes_rows_by_scope(user: User) -> None:
    for scope, version in (("shared", 4), (user_scope(user.pk), 9), ("user-999", 2)):
        IndexState.objects.create(
            scope=scope, embedder="hashing", dim=384, version=version, stamp=f"s{version}"
        )

    found = index.states([user_scope(user.pk), "shared", "user-nobody"])

    assert [(s.scope, s.version, s.stamp) for s in found] == [
        ("shared", 4, "s4"),
        (user_scope(user.pk), 9, "s9"),
    ]
    assert index.states([]) == []


@pytest.mark.django_db(transaction=True)
def test_index_states_are_locked_only_inside_a_transaction() -> None:
    IndexState.objects.create(scope="shared", embedder="hashing", dim=384)

    with pytest.raises(TransactionManagementError):
        index.states(["shared"], for_update=True)
    with transaction.atomic():
        assert [s.scope for s in index.states(["shared"], for_update=True)] == ["shared"]
