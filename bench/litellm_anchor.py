"""Tally next to LiteLLM's proxy, on the same fake model in the same run: the anchor row.

    python bench/litellm_anchor.py [--duration 10] [--clients 1,16] [--latency-ms 0]
                                   [--rounds 2]

LiteLLM's proxy (from PyPI, `LITELLM_VERSION`, in a virtual environment of its own under
`var/bench/litellm/`, made on first use) passes chats straight through to the fake
OpenAI-compatible model; Tally serves the same chats through its whole pipeline (token auth,
the charge, history, retrieval, the order tools' schemas, the answer and request log, memory)
on the embedded defaults, with `LLM_PROVIDER=openai` pointed at the same fake. Each runs with
2 workers and is driven by the same load tool (wrk when installed, else bench/pyload.py) from a
separate process, closed loop, at each of `--clients`; the two are measured alternately,
`--rounds` times, and the best round of each is kept (the machine is shared). Prints a table
and "ANCHOR {json}".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import drivers  # noqa: E402
import servers  # noqa: E402

LITELLM_VERSION = "1.108.7"
VENV = servers.ROOT / "var" / "bench" / f"litellm-{LITELLM_VERSION}"
QUESTION = "Do you deliver to the old town on Sundays?"


def main() -> None:
    args = _arguments()
    litellm = _litellm_binary()
    wrk = drivers.ensure_wrk()
    clients = [int(n) for n in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        env = _tally_environment(data_dir)
        servers.python(env, "manage.py", "migrate", "--noinput", "-v0")
        servers.python(env, "manage.py", "load_demo", quiet=True)
        with servers.fake_model(args.latency_ms, log=data_dir / "fake.log") as model:
            with (
                servers.tally_server(
                    {**env, "OPENAI_BASE_URL": model}, log=data_dir / "tally.log", workers=2
                ) as tally,
                _litellm_proxy(litellm, model, data_dir) as proxy,
            ):
                files = _request_files(tally, proxy, data_dir)
                best: dict[tuple[str, int], drivers.Result] = {}
                for _ in range(args.rounds):
                    for conns in clients:
                        for name, url in (("litellm", proxy), ("tally", tally)):
                            result = _measure(url, files[name], conns, args.duration, wrk)
                            key = (name, conns)
                            if key not in best or result.rps > best[key].rps:
                                best[key] = result
    rows = _table(best, clients)
    print("ANCHOR " + json.dumps({"latency_ms": args.latency_ms, "rows": rows}))


def _measure(
    url: str, requests: Path, conns: int, duration_s: float, wrk: str | None
) -> drivers.Result:
    drivers.load(url, requests, conns=conns, duration_s=2, wrk=wrk)  # warm up
    result = drivers.load(url, requests, conns=conns, duration_s=duration_s, wrk=wrk)
    if result.errors:
        raise SystemExit(f"{url}: {result.errors} errors; first: {result.first_bad}")
    return result


def _table(
    best: dict[tuple[str, int], drivers.Result], clients: list[int]
) -> list[dict[str, float | None]]:
    rows = []
    print("| clients | LiteLLM chats/s | Tally chats/s | ratio | LiteLLM p50 ms | Tally p50 ms |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for conns in clients:
        lite, ours = best[("litellm", conns)], best[("tally", conns)]
        row = {
            "clients": conns,
            "litellm_rps": round(lite.rps, 1),
            "tally_rps": round(ours.rps, 1),
            "rps_ratio": round(ours.rps / lite.rps, 2) if lite.rps else None,
            "litellm_p50_ms": round(lite.p50, 1),
            "tally_p50_ms": round(ours.p50, 1),
            "p50_ratio": round(ours.p50 / lite.p50, 2) if lite.p50 else None,
        }
        rows.append(row)
        print(
            f"| {conns} | {row['litellm_rps']} | {row['tally_rps']} | {row['rps_ratio']} "
            f"| {row['litellm_p50_ms']} | {row['tally_p50_ms']} |"
        )
    return rows


def _request_files(tally: str, proxy: str, data_dir: Path) -> dict[str, Path]:
    """Tally: one new conversation per request, rotating over 20 users (a user's history would
    otherwise grow through the run); LiteLLM: the same question as one user message."""
    tokens = [_register(tally, f"anchor{n}") for n in range(20)]
    ours = [("POST", "/api/chat/", token, {"message": QUESTION}) for token in tokens]
    theirs = [
        (
            "POST",
            "/v1/chat/completions",
            "unused",
            {"model": "gpt-fake", "messages": [{"role": "user", "content": QUESTION}]},
        )
    ]
    return {
        "tally": drivers.write_requests(data_dir / "tally.tsv", ours),
        "litellm": drivers.write_requests(data_dir / "litellm.tsv", theirs),
    }


def _register(url: str, username: str) -> str:
    body = json.dumps({"username": username, "password": "correct-horse-battery-staple"})
    request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
        f"{url}/api/register/",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return str(json.loads(response.read())["token"])


def _tally_environment(data_dir: Path) -> dict[str, str]:
    # The embedded defaults; every chat reaches the model, as every LiteLLM request does.
    return servers.fake_vendor_environment(
        data_dir, f"sqlite:///{data_dir / 'tally.sqlite3'}", f"filecache://{data_dir / 'cache'}"
    )


@contextmanager
def _litellm_proxy(binary: Path, model: str, data_dir: Path) -> Iterator[str]:
    config = data_dir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-fake\n"
        "    litellm_params:\n"
        "      model: openai/gpt-fake\n"
        f"      api_base: {model}\n"
        "      api_key: sk-bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        # No key check: LiteLLM's cheapest configuration (Tally still authenticates every chat).
        "general_settings:\n"
        "  dangerously_permit_weak_or_unset_master_key: true\n"
    )
    port = servers.free_port()
    command = [str(binary), "--config", str(config), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--num_workers", "2"]
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    log = data_dir / "litellm.log"
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - the proxy we installed
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"LiteLLM's proxy did not start:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health/liveliness", timeout=2):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        servers._stop_group(process)


def _litellm_binary() -> Path:
    """The `litellm` command of our own virtual environment, made on first use."""
    binary = VENV / "bin" / "litellm"
    if not binary.exists():
        print(f"-- installing litellm[proxy]=={LITELLM_VERSION} into {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)  # noqa: S603
        pip = [str(VENV / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"]
        subprocess.run(pip, check=True)  # noqa: S603
    return binary


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=2)
    return parser.parse_args()


if __name__ == "__main__":
    main()
