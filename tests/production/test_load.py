"""Load and faults against real servers: uvicorn with 4 workers on PostgreSQL and Redis, and the
embedded SQLite default with 2 workers. Money is exact under load, and a dead worker or a
restarted Redis never leaves a user charged for an answer they did not get.

The PostgreSQL cases run under `make test-services` (PostgreSQL is the test database and
CACHE_URL is Redis) or with TALLY_LOAD_TESTS=1; TALLY_LOAD_TESTS=0 skips every case here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import httpx2
import pytest
from django.core.management import call_command
from django.db import connection

from accounts.services import user_register
from billing.models import Wallet
from chat.models import Message, RequestLog
from tests.conftest import PASSWORD
from tests.production.load import (
    CHATS_AFFORDED,
    COST,
    Progress,
    assert_answers_seen_are_stored,
    assert_every_charge_is_answered_or_refunded,
    assert_no_server_errors,
    bursts,
    fire,
    statuses,
)
from tests.production.server import (
    RedisServer,
    Server,
    migrate,
    redis_server,
    uvicorn_server,
)
from tests.providers.fakes import FakeOpenAI, Reply

_flag = os.environ.get("TALLY_LOAD_TESTS", "")
_services = connection.vendor == "postgresql" and os.environ.get("CACHE_URL", "").startswith(
    "redis"
)
pytestmark = [
    pytest.mark.load,
    pytest.mark.django_db(transaction=True),  # the servers read what the test commits
    pytest.mark.skipif(_flag == "0", reason="TALLY_LOAD_TESTS=0"),
]


def _services_skip_reason() -> str:
    if connection.vendor != "postgresql":
        return "needs PostgreSQL as the test database (make test-services)"
    if not (_services or _flag == "1"):
        return "runs under make test-services (PostgreSQL + Redis) or with TALLY_LOAD_TESTS=1"
    if shutil.which("redis-server") is None:
        return "needs redis-server"
    return ""


needs_services = pytest.mark.skipif(bool(_services_skip_reason()), reason=_services_skip_reason())


def users_with_tokens_for(n_users: int, prefix: str) -> list[tuple[int, str]]:
    """`n_users` registered users with CHATS_AFFORDED chats' worth of tokens: (user id, token)."""
    users = []
    for n in range(n_users):
        user, token = user_register(username=f"{prefix}{n}", password=PASSWORD)
        users.append((user.pk, token.key))
    ids = [pk for pk, _ in users]
    assert set(Wallet.objects.filter(pk__in=ids).values_list("balance", flat=True)) == {
        COST * CHATS_AFFORDED
    }
    return users


def reconcile_abandoned_chats() -> str:
    """What an operator's cron runs; here as soon as every live turn has surely ended."""
    time.sleep(3)
    out = StringIO()
    call_command("reconcile_charges", "--older-than", str(2 / 60), stdout=out)
    return out.getvalue()


def chat_once(server: Server, token: str) -> httpx2.Response:
    return httpx2.post(
        f"{server.url}/api/chat/",
        json={"message": "Are you still there?"},
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )


# --- servers -----------------------------------------------------------------------------------


def openai_env(model: FakeOpenAI) -> dict[str, str]:
    return {
        "LLM_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": model.base_url,
        "OPENAI_MODEL": "gpt-fake",
        "OPENAI_MODELS": "gpt-fake",
        "LLM_TIMEOUT_S": "30",
    }


def server_env(data_dir: Path, cache_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATA_DIR": str(data_dir),
        "CACHE_URL": cache_url,
        "LLM_PROVIDER": "local",
        "LLM_FALLBACKS": "",
        "CHAT_COST": str(COST),
        "SIGNUP_TOKENS": str(COST * CHATS_AFFORDED),
        "CHAT_CACHE_TTL": "0",  # every chat reaches the pipeline, none is a cache hit
        "THROTTLE_CHAT": "1000000/min",  # the ledger, not the throttle, is under test
        "THROTTLE_SIGNUP": "1000/hour",  # six users register from one address
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "false",
        **extra,
    }


@pytest.fixture(scope="module")
def four_workers(
    django_db_setup: None, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """4 uvicorn workers on the PostgreSQL test database and a Redis of the tests' own."""
    data_dir = tmp_path_factory.mktemp("pg-server")
    env = server_env(data_dir, redis.url)
    with uvicorn_server(env, workers=4, log=data_dir / "uvicorn.log") as server:
        yield server


# --- PostgreSQL + Redis, 4 workers -------------------------------------------------------------


@pytest.mark.postgres
@needs_services
def test_200_users_firing_15_chats_each_with_tokens_for_10_get_exactly_2000_answers(
    four_workers: Server,
):
    users = users_with_tokens_for(200, "load")

    results, took = fire(four_workers.url, bursts(users))

    print(f"{len(results)} chats in {took:.1f} s ({len(results) / took:.0f}/s)")
    assert_no_server_errors(results, four_workers)
    assert statuses(results) == {200: 2000, 402: 1000}
    assert all(r.body["code"] == "insufficient_tokens" for r in results if r.status == 402)
    user_ids = [pk for pk, _ in users]
    assert set(Wallet.objects.filter(pk__in=user_ids).values_list("balance", flat=True)) == {0}
    totals = assert_every_charge_is_answered_or_refunded(user_ids)
    assert totals == {"answered": 2000, "refunded": 0}
    assert_answers_seen_are_stored(results)
    logs = RequestLog.objects.filter(user_id__in=user_ids)
    assert logs.filter(status="ok").count() == 2000 and logs.count() == 2000
    assert "Traceback" not in four_workers.logs()


@pytest.mark.postgres
@needs_services
def test_a_worker_killed_mid_load_leaves_no_chat_charged_and_lost(
    django_db_setup: None, redis: RedisServer, tmp_path: Path
):
    # A model that takes half a second, as real ones take seconds: the kill lands mid-turn.
    with FakeOpenAI() as model:
        model.default_reply = Reply.answer("We open at nine every day.", delay=0.5)
        env = server_env(tmp_path, redis.url, **openai_env(model))
        with uvicorn_server(env, workers=4, log=tmp_path / "uvicorn.log") as server:
            users = users_with_tokens_for(80, "killed")
            killed: list[int] = []

            async def kill_a_worker(progress: Progress) -> None:
                await progress.reach(0.3)
                killed.append(server.kill_worker())

            results, took = fire(server.url, bursts(users), fault=kill_a_worker)
            stranded = Message.objects.filter(status=Message.Status.PENDING).count()
            report = reconcile_abandoned_chats()

            print(f"{len(results)} chats in {took:.1f} s: {statuses(results)}")
            print(f"{stranded} chats stranded by the kill; {report.splitlines()[-1]}")
            assert killed, "the load ended before a worker was killed"
            assert stranded > 0, "the kill hit no chat in flight: nothing was proven"
            assert_no_server_errors(results, server)
            assert set(statuses(results)) <= {200, 402, "no response"}
            assert_every_charge_is_answered_or_refunded([pk for pk, _ in users])
            assert_answers_seen_are_stored(results)
            # The supervisor replaced the worker; the service goes on without a restart.
            assert killed[0] not in server.worker_pids()
            _, token = users_with_tokens_for(1, "after-kill")[0]
            assert chat_once(server, token).status_code == 200


@pytest.mark.postgres
@needs_services
def test_a_redis_restart_mid_load_only_costs_refunded_503s_and_the_service_recovers(
    django_db_setup: None, tmp_path: Path
):
    with redis_server(tmp_path) as redis:
        # The chat cache on too, so a chat uses Redis before and after it is charged.
        env = server_env(tmp_path, redis.url, CHAT_CACHE_TTL="60")
        with uvicorn_server(env, workers=4, log=tmp_path / "uvicorn.log") as server:
            users = users_with_tokens_for(60, "redis")
            outage: list[float] = []

            async def restart_redis(progress: Progress) -> None:
                await progress.reach(0.25)
                redis.kill()
                outage.append(time.monotonic())
                await asyncio.sleep(3)
                await asyncio.to_thread(redis.start)
                outage.append(time.monotonic())

            results, took = fire(server.url, bursts(users), fault=restart_redis)

            during = [r for r in results if outage[0] <= r.started <= outage[1]]
            print(f"{len(results)} chats in {took:.1f} s: {statuses(results)}")
            print(f"{len(during)} sent while Redis was down: {statuses(during)}")
            assert len(during) >= 20, "too few chats met the outage to prove anything"
            assert set(statuses(results)) <= {200, 402, 503}, (
                statuses(results),
                server.logs()[-3000:],
            )
            assert_every_charge_is_answered_or_refunded([pk for pk, _ in users])
            assert_answers_seen_are_stored(results)
            # Recovered without a restart: healthy, and chats are answered.
            health = httpx2.get(f"{server.url}/api/health/", timeout=10)
            assert health.status_code == 200, health.json()
            _, token = users_with_tokens_for(1, "after-redis")[0]
            assert chat_once(server, token).status_code == 200


# --- the embedded default: SQLite, 2 workers ----------------------------------------------------


def register(server: Server, username: str) -> str:
    response = httpx2.post(
        f"{server.url}/api/register/",
        json={"username": username, "password": PASSWORD, "email": f"{username}@example.com"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def test_fifty_simultaneous_chats_on_sqlite_with_two_workers_never_see_database_is_locked(
    tmp_path: Path,
):
    database = f"sqlite:///{tmp_path / 'tally.sqlite3'}"
    migrate(database, data_dir=tmp_path)
    env = server_env(tmp_path, f"filecache://{tmp_path / 'cache'}")  # the embedded default
    with uvicorn_server(env, workers=2, log=tmp_path / "uvicorn.log", database=database) as server:
        burst = register(server, "burst")
        # Alongside, five users who can afford all of theirs: fifty more writers that commit.
        others = [register(server, f"steady{n}") for n in range(5)]
        jobs = [(0, burst)] * 50 + [(n + 1, token) for n, token in enumerate(others)] * 10

        results, took = fire(server.url, jobs, in_flight=len(jobs))

        print(f"{len(jobs)} chats in {took:.1f} s: {statuses(results)}")
        assert not [r for r in results if "locked" in str(r.body).lower()]
        assert "database is locked" not in server.logs()
        assert statuses([r for r in results if r.user == 0]) == {200: 10, 402: 40}
        assert statuses([r for r in results if r.user > 0]) == {200: 50}
        auth = {"Authorization": f"Token {burst}"}
        tokens = httpx2.get(f"{server.url}/api/tokens/", headers=auth, timeout=10).json()
        history = httpx2.get(
            f"{server.url}/api/tokens/history/?page_size=100", headers=auth, timeout=10
        ).json()
    assert tokens == {"tokens": 0}
    assert history["count"] == 11  # the grant and ten charges: no 402 left a trace
    assert sum(entry["delta"] for entry in history["results"]) == 0
