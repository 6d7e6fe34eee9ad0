"""A small asyncio load client on httpx2: the fallback when wrk is not installed, and the
time-to-first-byte client for streamed chats (wrk cannot see inside a response).

    python bench/pyload.py URL REQUESTS_FILE --conns 8 --duration 10            # like wrk
    python bench/pyload.py URL REQUESTS_FILE --conns 8 --duration 10 --stream   # TTFB
    python bench/pyload.py URL REQUESTS_FILE --conns 8 --once    # each request once (warm-up)
    python bench/pyload.py URL REQUESTS_FILE --conns 32 --rate 20 --duration 10  # open loop

REQUESTS_FILE is the tab-separated list `bench/lua/rotate.lua` reads (METHOD, PATH, token,
body or "-"). Each of ``--conns`` clients sends one request at a time on its own keep-alive
connection, walking the list from its own offset. Prints one line, "BENCH {json}", with the
same fields as the wrk script (microseconds); with ``--stream`` the latency is the time to the
first `delta` event, and ``headers_*``/``total_*`` give the time to the response headers and
to the end of the stream. A stream that ends without a `done` event counts as non-2xx.

With ``--rate`` the load is an open loop: the clients together offer that many requests per
second, each on a fixed schedule (as people who think between messages), and a request's
latency runs from when it was due, so a server that falls behind is charged for the wait
(no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    headers: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    bytes: int = 0
    non2xx: int = 0
    errors: int = 0
    timeouts: int = 0
    first_bad: str = ""


def read_requests(path: Path) -> list[Request]:
    requests = []
    for line in path.read_text().splitlines():
        method, target, token, body = line.split("\t", 3)
        headers = {"Authorization": f"Token {token}"}
        if body != "-":
            headers["Content-Type"] = "application/json"
        requests.append(Request(method, target, headers, None if body == "-" else body.encode()))
    return requests


async def _client(
    number: int,
    client: httpx2.AsyncClient,
    requests: list[Request],
    deadline: float,
    stream: bool,
    tally: Tally,
    queue: list[Request] | None = None,
    interval: float | None = None,
) -> None:
    """Send requests one at a time: round-robin until ``deadline``, or, given a shared
    ``queue``, until it is empty; with ``interval``, one every ``interval`` seconds."""
    position = (number * 7919) % len(requests)
    due = time.perf_counter() + (number * 0.618034 % 1.0) * (interval or 0.0)
    while time.perf_counter() < deadline:
        if interval is not None:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if due >= deadline:
                return
        if queue is not None:
            if not queue:
                return
            request = queue.pop()
        else:
            request = requests[position]
            position = (position + 1) % len(requests)
        began = time.perf_counter() if interval is None else due
        if interval is not None:
            due += interval
        try:
            if stream:
                await _streamed(client, request, began, tally)
            else:
                response = await client.request(
                    request.method, request.path, content=request.body, headers=request.headers
                )
                tally.latencies.append(time.perf_counter() - began)
                tally.bytes += len(response.content)
                if not 200 <= response.status_code < 300:
                    _bad(tally, f"{response.status_code} {response.text[:200]}")
        except httpx2.TimeoutException:
            tally.timeouts += 1
        except httpx2.HTTPError as exc:
            tally.errors += 1
            tally.first_bad = tally.first_bad or repr(exc)


async def _streamed(
    client: httpx2.AsyncClient, request: Request, began: float, tally: Tally
) -> None:
    async with client.stream(
        request.method,
        request.path,
        content=request.body,
        headers={**request.headers, "Accept": "text/event-stream"},
    ) as response:
        tally.headers.append(time.perf_counter() - began)
        seen = b""
        first = None
        async for piece in response.aiter_raw():
            if first is None and b"event: delta" in seen + piece:
                first = time.perf_counter() - began
            seen = (seen + piece)[-65536:]  # enough to find the last event
            tally.bytes += len(piece)
        total = time.perf_counter() - began
    if not 200 <= response.status_code < 300 or b"event: done" not in seen:
        _bad(tally, f"{response.status_code} {seen[-200:].decode(errors='replace')}")
        return
    tally.latencies.append(first if first is not None else total)
    tally.totals.append(total)


def _bad(tally: Tally, what: str) -> None:
    tally.non2xx += 1
    tally.first_bad = tally.first_bad or what


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile in microseconds (0 when there are no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(share / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank] * 1e6


async def run(
    url: str,
    requests: list[Request],
    conns: int,
    duration: float,
    stream: bool,
    once: bool,
    rate: float | None = None,
) -> dict:
    tally = Tally()
    queue = list(reversed(requests)) if once else None
    limits = httpx2.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        began = time.perf_counter()
        await asyncio.gather(
            *(
                _client(
                    n,
                    client,
                    requests,
                    began + duration,
                    stream,
                    tally,
                    queue,
                    interval=conns / rate if rate else None,
                )
                for n in range(conns)
            )
        )
        elapsed = time.perf_counter() - began
    result = {
        "requests": len(tally.latencies) + tally.non2xx,
        "duration_us": int(elapsed * 1e6),
        "bytes": tally.bytes,
        "mean_us": sum(tally.latencies) / len(tally.latencies) * 1e6 if tally.latencies else 0,
        "max_us": max(tally.latencies, default=0) * 1e6,
        "connect_errors": 0,
        "read_errors": tally.errors,
        "write_errors": 0,
        "timeouts": tally.timeouts,
        "status_errors": tally.non2xx,
        "non2xx": tally.non2xx,
        "first_bad": tally.first_bad,
    }
    for share in (50, 95, 99):
        result[f"p{share}_us"] = percentile(tally.latencies, share)
        if stream:
            result[f"headers_p{share}_us"] = percentile(tally.headers, share)
            result[f"total_p{share}_us"] = percentile(tally.totals, share)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("requests", type=Path)
    parser.add_argument("--conns", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--once", action="store_true", help="each request once, then stop")
    parser.add_argument("--rate", type=float, help="open loop: requests/s offered in all")
    args = parser.parse_args()
    duration = 3600.0 if args.once else args.duration
    requests = read_requests(args.requests)
    result = asyncio.run(
        run(args.url, requests, args.conns, duration, args.stream, args.once, rate=args.rate)
    )
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
