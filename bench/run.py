"""Gateway benchmark (`make bench`): what Tally adds per chat on top of the model, how it scales,
and how far a chat is from the floor (an authenticated read), on the real server.

    .venv/bin/python bench/run.py                # full run, ~16 minutes
    .venv/bin/python bench/run.py --quick        # smoke run, ~5 minutes
    .venv/bin/python bench/run.py --no-postgres  # the embedded defaults only

Starts `uvicorn config.asgi:application --workers 2` on the embedded defaults (SQLite and the
file cache) in a throwaway DATA_DIR, with the `local` provider and then with a fake
OpenAI-compatible model answering after a fixed latency, and then, when PostgreSQL and Redis
answer on 127.0.0.1, on them (a throwaway database) with the `local` provider; seeds users with
huge balances, 50-message conversations and 100k shared document chunks; drives it with wrk
from a separate process; and writes a Markdown report to bench/results/<timestamp>.md (printed too).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cpu  # noqa: E402
import drivers  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
import servers  # noqa: E402
from scenarios import Plan, Run, Session  # noqa: E402

BENCH = Path(__file__).resolve().parent
SEED = str(BENCH / "seed.py")


def main() -> None:
    args = _arguments()
    if args.render:
        saved = scenarios.run_from_json(json.loads(args.render.read_text()))
        print(report.render(saved), end="")
        return
    plan = _plan(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = Run(plan=plan, command=" ".join(["bench/run.py", *sys.argv[1:]]), started=stamp)
    wrk = None if args.tool == "python" else drivers.ensure_wrk()
    if wrk is None and args.tool == "wrk":
        raise SystemExit("wrk is not installed and could not be installed (apt-get install wrk).")
    run.machine = _machine(wrk)
    _wait_quiet(args.wait_quiet, run)
    data_dir = Path(tempfile.mkdtemp(prefix="tally-bench-"))
    try:
        _bench(run, data_dir, wrk, args)
    finally:
        if args.keep:
            print(f"-- kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    run.machine["load_after"] = scenarios.loadavg()
    out = BENCH / "results" / f"{stamp}.md"
    out.parent.mkdir(exist_ok=True)
    # The raw figures first, so a report that fails to render loses nothing.
    out.with_suffix(".json").write_text(json.dumps(dataclasses.asdict(run), indent=1, default=str))
    text = report.render(run)
    out.write_text(text)
    if run.profile_text:
        out.with_suffix(".profile.txt").write_text(run.profile_text)
    print(text)
    print(f"-- written to {out.relative_to(BENCH.parent)}", file=sys.stderr)


def _bench(run: Run, data_dir: Path, wrk: str | None, args: argparse.Namespace) -> None:
    plan = run.plan
    env = _environment(data_dir, f"sqlite:///{data_dir / 'bench.sqlite3'}", args.set)
    files = _prepare(env, data_dir, plan, users=plan.users_small, chunks=plan.chunks_large // 10)
    log = data_dir / "server.log"
    _step(f"local provider, SQLite + file cache ({plan.users_small} users to start)")
    with servers.tally_server(env, log=log) as url:
        session = Session(run, "local", env, url, wrk)
        before = servers.stats(env)
        scenarios.warm(session, files, plan)
        scenarios.scaling(session, files, plan, data_dir)
        scenarios.matrix(session, files, plan)
        scenarios.history_again(session, files, plan)
        scenarios.check(session, before)
    _probe(run, env, files, chats=args.profile_chats or (30 if args.quick else 100))
    if "openai" in plan.configs:
        _step(f"fake OpenAI-compatible model answering after {plan.latency_ms:g} ms")
        with servers.fake_model(plan.latency_ms, log=data_dir / "fake.log") as base_url:
            openai_env = {
                **env,
                "LLM_PROVIDER": "openai",
                "OPENAI_BASE_URL": base_url,
                "OPENAI_API_KEY": "sk-bench",
            }
            with servers.tally_server(openai_env, log=log) as url:
                session = Session(run, f"openai-{plan.latency_ms:g}ms", openai_env, url, wrk)
                before = servers.stats(openai_env)
                scenarios.warm(session, files, plan)
                scenarios.matrix(session, files, plan)
                scenarios.check(session, before)
    if "postgres" in plan.configs:
        _postgres(run, data_dir, wrk, plan, args)


def _probe(run: Run, env: dict[str, str], files: dict[str, Path], *, chats: int) -> None:
    _step("probe: SQL queries, profile and retrieval of one chat, in-process")
    out = files["users"].parent / "probe.json"
    servers.python(env, str(BENCH / "probe.py"), str(files["users"]), str(files["questions"]),
                   "--out", str(out), "--profile-chats", str(chats))  # fmt: skip
    run.probe = json.loads(out.read_text())
    run.profile_text = out.with_suffix(".profile.txt").read_text()


def _postgres(run: Run, data_dir: Path, wrk: str | None, plan: Plan, args: Any) -> None:
    if not (servers.reachable("127.0.0.1", 5432) and servers.reachable("127.0.0.1", 6379)):
        run.notes.append("PostgreSQL or Redis not reachable on 127.0.0.1: not measured.")
        return
    _step("local provider, PostgreSQL + Redis")
    with servers.postgres_database() as database_url, servers.redis_database() as cache_url:
        pg_dir = data_dir / "postgres"
        pg_dir.mkdir()
        env = {**_environment(pg_dir, database_url, args.set), "CACHE_URL": cache_url}
        files = _prepare(env, pg_dir, plan, users=plan.users_large, chunks=plan.chunks_large)
        with (
            cpu.counting("postgres", "redis-server"),
            servers.tally_server(env, log=pg_dir / "server.log") as url,
        ):
            session = Session(run, "postgres+redis", env, url, wrk)
            before = servers.stats(env)
            scenarios.warm(session, files, plan)
            scenarios.matrix(session, files, plan)
            scenarios.check(session, before)


def _environment(data_dir: Path, database_url: str, overrides: list[str]) -> dict[str, str]:
    env = {
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        # The documented defaults, pinned so a developer's .env cannot change what is measured.
        "DEBUG": "false",
        "TALLY_ENV": "development",
        "CACHE_URL": f"filecache://{data_dir / 'cache'}",
        "CONN_MAX_AGE": "0",
        "EMBEDDER": "hashing",
        "LLM_PROVIDER": "local",
        "LLM_FALLBACKS": "",
        "LOG_LEVEL": "WARNING",
        # Measure real chats: no throttling, no answer cache, wallets that never run dry.
        "SIGNUP_TOKENS": str(10**9),
        "THROTTLE_CHAT": "1000000/min",
        "CHAT_CACHE_TTL": "0",
    }
    for item in overrides:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def _prepare(
    env: dict[str, str], data_dir: Path, plan: Plan, *, users: int, chunks: int
) -> dict[str, Path]:
    _step(f"seeding {data_dir}: migrate, demo catalog, {users} users, {chunks:,} chunks")
    servers.python(env, "manage.py", "migrate", "--noinput", "-v0")
    servers.python(env, "manage.py", "load_demo", quiet=True)
    files = {"users": data_dir / "users.jsonl", "questions": data_dir / "questions.json"}
    servers.python(env, SEED, "users", "--count", str(users), "--out", str(files["users"]),
                   "--history", str(plan.history_long),
                   "--short-history", str(plan.history_short),
                   "--huge-history", str(plan.history_huge))  # fmt: skip
    servers.python(env, SEED, "chunks", "--total", str(chunks))
    servers.python(env, SEED, "questions", "--count", "200", "--out", str(files["questions"]))
    scenarios.request_files(files)
    return files


def _step(text: str) -> None:
    print(f"-- {text}", file=sys.stderr, flush=True)


def _wait_quiet(seconds: float, run: Run) -> None:
    deadline = time.monotonic() + seconds
    while float(scenarios.loadavg().split()[0]) >= 1.0 and time.monotonic() < deadline:
        _step(f"waiting for a quiet machine (load average {scenarios.loadavg()})")
        time.sleep(30)
    run.machine["load_before"] = scenarios.loadavg()


def _machine(wrk: str | None) -> dict[str, str]:
    version = "python fallback (bench/pyload.py)"
    if wrk:
        done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
        version = (done.stdout or done.stderr).split("Copyright")[0].strip()
    return {
        "code": _code_version(),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_tool": version,
    }


def _code_version() -> str:
    """The commit measured, and whether the working tree had changes on top of it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    head = subprocess.run(  # noqa: S603
        [git, "rev-parse", "--short", "HEAD"], cwd=BENCH, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(  # noqa: S603
        [git, "status", "--porcelain", "--untracked-files=no"],
        cwd=BENCH,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return f"{head or 'unknown'}" + (f" + {len(changed)} changed files" if changed else "")


def _plan(args: argparse.Namespace) -> Plan:
    configs = ["local", *([] if args.no_openai else ["openai"])]
    configs += [] if args.no_postgres else ["postgres"]
    quick = args.quick
    return Plan(
        levels=args.levels or ([1, 32] if quick else [1, 8, 32, 64]),
        duration=args.duration or (3 if quick else 10),
        warmup=1 if quick else 2,
        ttfb_levels=[1, 8],
        scale_conns=1,
        users_small=20,
        users_large=200,
        chunks_large=args.chunks or (10_000 if quick else 100_000),
        history_long=50,
        history_short=5,
        history_huge=500,
        latency_ms=args.latency_ms,
        configs=configs,
        patience=args.patience,
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~5-minute smoke run")
    parser.add_argument(
        "--no-postgres",
        action="store_true",
        help="skip PostgreSQL + Redis (measured when they answer on 127.0.0.1)",
    )
    parser.add_argument("--no-openai", action="store_true", help="skip the fake-model config")
    parser.add_argument("--levels", type=int, nargs="+", help="concurrent clients")
    parser.add_argument("--duration", type=float, help="seconds per measurement")
    parser.add_argument("--chunks", type=int, help="shared chunks (default 100000)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the fake model's")
    parser.add_argument("--profile-chats", type=int, help="default 100 (30 with --quick)")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--patience",
        type=float,
        default=300,
        metavar="SECONDS",
        help="how long a run may wait, in all, to measure a cell again that other processes "
        "disturbed (default 300; 0 never waits)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for a load average below 1.0",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server environment, e.g. --set CONN_MAX_AGE=60",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="print the report of a saved run; no load"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
