"""The load generator for the production tests, and the ledger invariant it must leave."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
from django.db.models import Count, Sum

from billing.models import LedgerEntry, Wallet
from chat.models import Message
from tests.production.server import Server

COST = 100
CHATS_AFFORDED = 10
CHATS_FIRED = 15
IN_FLIGHT = 64  # two cores: more only queues in the servers


@dataclass(frozen=True)
class Result:
    user: int
    status: int | None  # None: no HTTP response (the connection failed)
    body: dict[str, Any]
    started: float
    error: str = ""


@dataclass
class Progress:
    total: int
    done: int = 0

    async def reach(self, fraction: float) -> None:
        while self.done < self.total * fraction:
            await asyncio.sleep(0.02)


Fault = Callable[[Progress], Awaitable[None]]


def fire(
    url: str,
    jobs: list[tuple[int, str]],
    *,
    in_flight: int = IN_FLIGHT,
    fault: Fault | None = None,
    stream: bool = False,
) -> tuple[list[Result], float]:
    """POST one chat per (user index, token) job, `in_flight` at a time, while `fault` runs.

    With ``stream`` each chat asks for Server-Sent Events, and its result's body is the last
    event's data with the event's name under ``"event"`` (``done`` or ``error``).
    Returns the results in job order and the seconds it all took.
    """
    progress = Progress(total=len(jobs))

    async def run() -> list[Result]:
        limits = httpx2.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
            slots = asyncio.Semaphore(in_flight)

            async def one(n: int, user: int, token: str) -> Result:
                async with slots:
                    started = time.monotonic()
                    try:
                        response = await client.post(
                            "/api/chat/",
                            json={
                                "message": f"What are your opening hours? (question {n})",
                                "stream": stream,
                            },
                            headers={"Authorization": f"Token {token}"},
                        )
                        body = _last_event(response) if stream else _json(response)
                        result = Result(user, response.status_code, body, started)
                    except httpx2.TransportError as exc:
                        result = Result(user, None, {}, started, f"{type(exc).__name__}: {exc}")
                progress.done += 1
                return result

            chats = asyncio.gather(*(one(n, user, token) for n, (user, token) in enumerate(jobs)))
            if fault is None:
                return await chats
            results, _ = await asyncio.gather(chats, fault(progress))
            return results

    started = time.monotonic()
    results = asyncio.run(run())
    return results, time.monotonic() - started


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"raw": response.text[:300]}
    return body if isinstance(body, dict) else {"raw": body}


def _last_event(response: httpx2.Response) -> dict[str, Any]:
    """The last Server-Sent Event of a streamed chat: its data, and its name as ``"event"``."""
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        return _json(response)  # refused before the stream began: plain JSON
    name, data = "", "{}"
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
    return {**json.loads(data), "event": name}


def bursts(users: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Each user's chats back to back, so a user's whole burst is in flight at once."""
    return [user for user in users for _ in range(CHATS_FIRED)]


def statuses(results: list[Result]) -> Counter[int | str]:
    return Counter(r.status if r.status is not None else "no response" for r in results)


def assert_no_server_errors(results: list[Result], server: Server) -> None:
    errors = [r for r in results if r.status is not None and r.status >= 500]
    assert not errors, f"{statuses(results)}; first: {errors[0].body}\n{server.logs()[-5000:]}"


def assert_every_charge_is_answered_or_refunded(user_ids: list[int]) -> dict[str, int]:
    """The invariant that matters under faults, for every wallet: what was paid for was given.

    Balance = sum of deltas ≥ 0; no question is still pending; every refund names a charge;
    the charges without a refund are exactly the answered questions, and the balance is what
    those answers cost.
    """
    wallets = Wallet.objects.filter(pk__in=user_ids).annotate(total=Sum("entries__delta"))
    assert len(wallets) == len(user_ids)
    pending = Message.objects.filter(
        conversation__user_id__in=user_ids, status=Message.Status.PENDING
    )
    assert not pending.exists(), f"{pending.count()} chats still pending"
    answered = dict(
        Message.objects.filter(
            conversation__user_id__in=user_ids, role=Message.Role.USER, status=Message.Status.OK
        )
        .values_list("conversation__user_id")
        .annotate(n=Count("id"))
    )
    entries = LedgerEntry.objects.filter(wallet_id__in=user_ids)
    charges: dict[int, set[str]] = {pk: set() for pk in user_ids}
    refunds: dict[int, list[str]] = {pk: [] for pk in user_ids}
    for wallet_id, kind, reference in entries.values_list("wallet_id", "kind", "reference"):
        if kind == LedgerEntry.Kind.CHAT_CHARGE:
            charges[wallet_id].add(reference)
        elif kind == LedgerEntry.Kind.REFUND:
            refunds[wallet_id].append(reference)
    for wallet in wallets:
        uid = wallet.pk
        assert wallet.balance == wallet.total >= 0, (uid, wallet.balance, wallet.total)
        assert len(refunds[uid]) == len(set(refunds[uid])), f"a charge refunded twice: {uid}"
        assert set(refunds[uid]) <= charges[uid], f"a refund names no charge: {uid}"
        kept = charges[uid] - set(refunds[uid])
        assert len(kept) == answered.get(uid, 0), (uid, len(kept), answered.get(uid, 0))
        assert wallet.balance == COST * (CHATS_AFFORDED - len(kept)), (uid, wallet.balance)
    return {
        "answered": sum(answered.values()),
        "refunded": sum(len(r) for r in refunds.values()),
    }


def assert_answers_seen_are_stored(results: list[Result]) -> None:
    seen = {r.body["message_id"] for r in results if r.status == 200}
    stored = Message.objects.filter(
        pk__in=seen, role=Message.Role.ASSISTANT, status=Message.Status.OK
    ).count()
    assert stored == len(seen)
