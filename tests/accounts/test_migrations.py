"""The accounts migrations on a database from before them: legacy plaintext tokens keep working
as digests, and names that differ only in case stop the migration, named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
LEGACY_KEY = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # rest_framework.authtoken's shape


def migrate(*targets: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())


@pytest.fixture
def before(request: pytest.FixtureRequest) -> Iterator[None]:
    """The database as it was before the given accounts migration; the latest again after."""
    migrate(("accounts", request.param))
    yield
    migrate()


@pytest.fixture
def legacy_table() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute(
            'CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, '
            '"created" timestamp NOT NULL, "user_id" bigint NOT NULL)'
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute('DROP TABLE "authtoken_token"')


@pytest.mark.parametrize("before", ["0002_api_tokens"], indirect=True)
def test_a_token_issued_before_the_migration_still_authenticates_and_only_as_a_digest(
    before: None, legacy_table: None
):
    user = User.objects.create_user(username="old-timer", password=PASSWORD)
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO "authtoken_token" ("key", "created", "user_id") VALUES (%s, %s, %s)',
            [LEGACY_KEY, timezone.now(), user.pk],
        )

    migrate()

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {LEGACY_KEY}")
    assert api.get("/api/me/").json()["username"] == "old-timer"
    row = ApiToken.objects.get(user=user)
    assert LEGACY_KEY not in row.digest and len(row.token_key) < len(LEGACY_KEY)
    assert row.expiry is not None and row.expiry > timezone.now()
    with connection.cursor() as cursor:
        cursor.execute('SELECT COUNT(*) FROM "authtoken_token"')
        assert cursor.fetchone() == (0,)


@pytest.mark.parametrize("before", ["0003_hash_legacy_tokens"], indirect=True)
def test_names_that_differ_only_in_case_stop_the_migration_naming_them(before: None):
    User.objects.bulk_create(
        [User(username="ann"), User(username="Ann"), User(username="ANN"), User(username="bo")]
    )

    with pytest.raises(RuntimeError, match="differ only in case: ANN, Ann, ann\\."):
        migrate()

    User.objects.filter(username__in=["Ann", "ANN"]).delete()
