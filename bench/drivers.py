"""Load from a separate process: wrk with `bench/lua/rotate.lua` (installed from Debian when
missing and we are root), else `bench/pyload.py`; streamed chats always through pyload, which
sees the first event inside the response."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "lua" / "rotate.lua"


@dataclass(frozen=True)
class Result:
    """One load run: ``conns`` clients for ``duration_s``. Latencies in milliseconds."""

    tool: str
    conns: int
    requests: int
    duration_s: float
    p50: float
    p95: float
    p99: float
    max: float
    non2xx: int
    socket_errors: int
    first_bad: str
    extra: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def sustained_rps(self) -> float:
        """Requests per second counting the time the server still worked after the load
        stopped (remembering the chats it answered): what it can keep up."""
        busy = self.extra.get("busy_s", 0.0)
        return self.requests / (self.duration_s + busy) if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def write_requests(path: Path, rows: Iterable[tuple[str, str, str, dict[str, Any] | None]]) -> Path:
    """The tab-separated request list both load tools read: method, path, token, JSON body."""
    lines = []
    for method, target, token, body in rows:
        payload = "-" if body is None else json.dumps(body, separators=(",", ":"))
        if "\t" in payload or "\n" in payload:
            raise ValueError("request bodies must not contain tabs or newlines")
        lines.append(f"{method}\t{target}\t{token}\t{payload}\n")
    path.write_text("".join(lines))
    return path


def ensure_wrk() -> str | None:
    """wrk's path: installed from Debian's archive when missing and we may (root, apt-get)."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("-- installing wrk (apt-get install wrk)", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = shutil.which("apt-get") or "apt-get"
    install = [apt, "install", "-y", "-q", "wrk"]
    subprocess.run(install, env=env, capture_output=True, check=False)  # noqa: S603
    if not shutil.which("wrk"):  # a stale package list: update it once and retry
        update = [apt, "update", "-q"]
        subprocess.run(update, env=env, capture_output=True, check=False)  # noqa: S603
        subprocess.run(install, env=env, capture_output=True, check=False)  # noqa: S603
    return shutil.which("wrk")


def load(url: str, requests: Path, *, conns: int, duration_s: float, wrk: str | None) -> Result:
    """Closed-loop load: ``conns`` keep-alive clients, each one request at a time."""
    if wrk is not None:
        command = [wrk, f"-t{min(conns, 2)}", f"-c{conns}", f"-d{duration_s:g}s"]
        command += ["--timeout", "30s", "-s", str(LUA), url, "--", str(requests)]
        return _parse("wrk", conns, _run(command))
    return stream_or_plain(url, requests, conns=conns, duration_s=duration_s, stream=False)


def paced(url: str, requests: Path, *, conns: int, rate: float, duration_s: float) -> Result:
    """Open-loop load: ``conns`` clients offering ``rate`` requests/s in all (bench/pyload.py
    --rate); latencies run from when each request was due."""
    command = [sys.executable, str(BENCH / "pyload.py"), url, str(requests)]
    command += ["--conns", str(conns), "--duration", f"{duration_s:g}", "--rate", f"{rate:g}"]
    return _parse("pyload", conns, _run(command))


def stream_or_plain(
    url: str, requests: Path, *, conns: int, duration_s: float, stream: bool, once: bool = False
) -> Result:
    """bench/pyload.py: plain requests, streamed chats (``stream``), or each request of the
    file exactly once (``once``, for warming up)."""
    command = [sys.executable, str(BENCH / "pyload.py"), url, str(requests)]
    command += ["--conns", str(conns), "--duration", f"{duration_s:g}"]
    if stream:
        command.append("--stream")
    if once:
        command.append("--once")
    return _parse("pyload", conns, _run(command))


def _run(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            return dict(json.loads(line[len("BENCH ") :]))
    raise SystemExit(f"{command[0]} printed no result ({done.returncode}):\n{done.stderr[-2000:]}")


def _parse(tool: str, conns: int, raw: dict[str, Any]) -> Result:
    socket_errors = sum(
        int(raw.get(name, 0))
        for name in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    extra = {
        key[: -len("_us")]: float(value) / 1000
        for key, value in raw.items()
        if key.startswith(("headers_", "total_")) and key.endswith("_us")
    }
    return Result(
        tool=tool,
        conns=conns,
        requests=int(raw["requests"]),
        duration_s=float(raw["duration_us"]) / 1e6,
        p50=float(raw["p50_us"]) / 1000,
        p95=float(raw["p95_us"]) / 1000,
        p99=float(raw["p99_us"]) / 1000,
        max=float(raw["max_us"]) / 1000,
        non2xx=int(raw["non2xx"]),
        socket_errors=socket_errors,
        first_bad=str(raw.get("first_bad", "")),
        extra=extra,
    )
