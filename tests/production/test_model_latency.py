"""Hundreds of chats waiting on a slow model at once, as a real gateway spends its life: 4 uvicorn
workers on PostgreSQL (stock `max_connections=100`) and Redis, a fake OpenAI-compatible model
answering in seconds. No chat holds a database connection while the model works, so every one
is answered with a few pooled connections; past what a worker may hold, and while the database
is away, clients get 503 with `Retry-After`, never a 500 and never a charge without an answer.

Runs under `make test-services` (see tests/production/test_load.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import psycopg
import pytest
from django.db import connection
from psycopg import sql

from tests.production.load import (
    CHATS_AFFORDED,
    Fault,
    Progress,
    assert_answers_seen_are_stored,
    assert_every_charge_is_answered_or_refunded,
    assert_no_server_errors,
    fire,
    statuses,
)
from tests.production.server import RedisServer, Server, uvicorn_server
from tests.production.test_load import (
    chat_once,
    needs_services,
    openai_env,
    reconcile_abandoned_chats,
    server_env,
    users_with_tokens_for,
)
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = [pytest.mark.load, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CHATS = 400
MODEL_S = 3.0


@contextmanager
def peak_connections() -> Iterator[list[int]]:
    """Polls PostgreSQL for the connections open to the test database while the block runs;
    the list it yields holds the highest count seen (the poller's own left out)."""
    db = connection.settings_dict
    peak = [0]
    done = threading.Event()
    params = {"host": db["HOST"], "port": db["PORT"] or None, "user": db["USER"]}

    def poll() -> None:
        with psycopg.connect(dbname=db["NAME"], password=db["PASSWORD"] or None, **params) as c:
            while not done.is_set():
                row = c.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()
                peak[0] = max(peak[0], row[0] if row else 0)
                done.wait(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield peak
    finally:
        done.set()
        poller.join(timeout=5)


@needs_services
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_400_chats_waiting_on_a_3_s_model_are_all_answered_on_at_most_40_connections(
    stream: bool, django_db_setup: None, redis: RedisServer, tmp_path: Path
):
    with FakeOpenAI() as model:
        model.default_reply = Reply.answer("We open at nine every day.", delay=MODEL_S)
        env = server_env(tmp_path, redis.url, **openai_env(model), DB_POOL_MAX="10")
        with uvicorn_server(env, workers=4, log=tmp_path / "uvicorn.log") as server:
            users = users_with_tokens_for(CHATS // CHATS_AFFORDED, f"wait-{stream}-")
            jobs = [user for user in users for _ in range(CHATS_AFFORDED)]
            connection.close()  # the test's own, so that only the server's are counted

            with peak_connections() as peak:
                results, took = fire(server.url, jobs, in_flight=CHATS, stream=stream)

            print(f"{CHATS} chats ({stream=}) in {took:.1f} s; peak {peak[0]} connections")
            assert_no_server_errors(results, server)
            assert statuses(results) == {200: CHATS}
            if stream:
                assert {r.body["event"] for r in results} == {"done"}, statuses(results)
            assert peak[0] <= 40
            # All at once, not in waves: the servers' work (400 chats of ~25 ms of CPU on two
            # cores, ~5 s since retrieval embeds and ranks twice) plus one model wait, with
            # room for a noisy machine; waves of 40 connections would take 10 waits, 30 s.
            assert took < 5 * MODEL_S
            user_ids = [pk for pk, _ in users]
            assert assert_every_charge_is_answered_or_refunded(user_ids) == {
                "answered": CHATS,
                "refunded": 0,
            }
            assert_answers_seen_are_stored(results)


def _as_admin(query: sql.Composed | sql.SQL, params: tuple[object, ...] = ()) -> None:
    """Run ``query`` on the test database's server from a connection of its own."""
    db = connection.settings_dict
    server = {"host": db["HOST"], "port": db["PORT"] or None, "user": db["USER"]}
    with psycopg.connect(
        dbname="postgres", password=db["PASSWORD"] or None, autocommit=True, **server
    ) as admin:
        admin.execute(query, params)


def database_restart(away_s: float) -> Fault:
    """The test database going away as its clients see a restart: every connection to it is
    terminated ("terminating connection due to administrator command") and new ones are
    refused for ``away_s`` seconds, then it is back. (The server itself, which other test
    runs on this machine may share, keeps running.)"""
    name = connection.settings_dict["NAME"]

    async def restart(progress: Progress) -> None:
        allow = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
        await progress.reach(0.25)
        await asyncio.to_thread(_as_admin, allow.format(sql.Identifier(name), sql.SQL("false")))
        try:
            terminate = sql.SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()"
            )
            await asyncio.to_thread(_as_admin, terminate, (name,))
            await asyncio.sleep(away_s)
        finally:
            await asyncio.to_thread(_as_admin, allow.format(sql.Identifier(name), sql.SQL("true")))

    return restart


def all_workers_healthy_within(server: Server, *, seconds: float) -> bool:
    """Whether, within ``seconds``, eight health checks in a row answer 200 (with 4 workers,
    that is every worker, most likely), each on a new connection."""
    deadline, in_a_row = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and in_a_row < 8:
        status = httpx2.get(f"{server.url}/api/health/", timeout=seconds).status_code
        in_a_row = in_a_row + 1 if status == 200 else 0
        if status != 200:
            time.sleep(0.1)
    return in_a_row >= 8


@needs_services
def test_the_database_restarting_under_400_chats_costs_only_refunded_503s_and_service_resumes(
    django_db_setup: None, redis: RedisServer, tmp_path: Path
):
    with FakeOpenAI() as model:
        model.default_reply = Reply.answer("We open at nine every day.", delay=1.0)
        env = server_env(tmp_path, redis.url, **openai_env(model))
        with uvicorn_server(env, workers=4, log=tmp_path / "uvicorn.log") as server:
            users = users_with_tokens_for(CHATS // CHATS_AFFORDED, "restart-")
            jobs = [user for user in users for _ in range(CHATS_AFFORDED)]
            connection.close()

            results, took = fire(
                server.url, jobs, in_flight=CHATS, fault=database_restart(away_s=2.0)
            )

            # The test's own pooled connections were terminated too: a new pool instead of
            # the old one's dead idle connections.
            connection.close()
            connection.close_pool()  # type: ignore[attr-defined]  # PostgreSQL has it
            print(f"{CHATS} chats in {took:.1f} s through a restart: {statuses(results)}")
            assert set(statuses(results)) <= {200, 503}, server.logs()[-5000:]
            refused = [r for r in results if r.status == 503]
            assert refused, "the restart met no chat: nothing was proven"
            assert {r.body["code"] for r in refused} <= {"database_unavailable", "overloaded"}
            assert all(r.body["retry_after"] >= 1 for r in refused)
            # Chats the restart caught after their charge are refunded, by their own worker
            # when the database was back in time, else by the operator's reconcile_charges.
            reconcile_abandoned_chats()
            assert_every_charge_is_answered_or_refunded([pk for pk, _ in users])
            assert_answers_seen_are_stored(results)
            # Back without a restart of the service: within a couple of seconds every worker is
            # healthy (a worker whose idle connections died answers its first request with a
            # quick 503, then checks its pool), and chats are answered.
            assert all_workers_healthy_within(server, seconds=3.0)
            _, token = users_with_tokens_for(1, "after-restart")[0]
            answer = chat_once(server, token)
            if answer.status_code == 503:  # a worker meeting a dead connection first: its retry
                time.sleep(int(answer.headers["Retry-After"]))
                answer = chat_once(server, token)
            assert answer.status_code == 200
