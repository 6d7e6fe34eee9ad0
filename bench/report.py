"""The gateway benchmark's Markdown report: throughput and latency tables, ratios to the floor,
scaling, the targets, the SQL of one chat and its profile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drivers import Result
from scenarios import NOISY, PACED_CONNS

if TYPE_CHECKING:
    from scenarios import Run

NAMES = {
    "floor": "`GET /api/tokens/` (floor)",
    "chat_new": "`POST /api/chat/` new conversation",
    "chat_follow": "`POST /api/chat/` follow-up (50-message conversation)",
}
QUERY_TARGET = 12
TITLES = {
    "local": "Local provider, SQLite + file cache (embedded defaults)",
    "postgres+redis": "Local provider, PostgreSQL + Redis",
}


def render(run: Run) -> str:
    plan = run.plan
    lines = [
        f"# Tally gateway benchmark, {run.started}",
        "",
        f"Command: `.venv/bin/python {run.command}`. "
        f"Machine: {run.machine['cpus']} CPUs, Python {run.machine['python']}, "
        f"{run.machine['platform']}; load average before {run.machine.get('load_before')}, "
        f"after {run.machine.get('load_after')}. Load tool: {run.machine['load_tool']} "
        f"(threads = min(clients, 2)); streamed chats: bench/pyload.py.",
        "",
        f"Server: `uvicorn config.asgi:application --workers 2`, DEBUG off, "
        f"`CHAT_CACHE_TTL=0`, no throttling. Each cell: {plan.duration:g} s of closed-loop "
        f"load after a warm-up. Data: {plan.users_large} users with {plan.history_short}-, "
        f"{plan.history_long}- and {plan.history_huge}-message conversations, "
        f"{plan.chunks_large:,} shared document chunks (flat fp16 index), the demo catalog. "
        f"Code: {run.machine.get('code', '?')}. Latencies in ms; "
        '"other CPU" is the share of the machine that processes other than the benchmark\'s '
        "own (server, load tool, fake model; PostgreSQL and Redis in their rows) used during "
        "the cell: a neighbour's test suite "
        f"shows up there, and the figures next to it are then pessimistic. A cell above "
        f"{NOISY:.0%} is measured again once the machine is calm (a star per retry; "
        f"{run.waited:.0f} s spent waiting in this run).",
        "",
    ]
    lines += _retrieval_note(run)
    for config, table in run.matrix.items():
        lines += _matrix(run, config, table)
    lines += _ttfb(run)
    lines += _paced(run)
    lines += _scaling(run)
    lines += _targets(run)
    lines += _queries(run)
    lines += _profile(run)
    lines += _checks(run)
    lines += [f"- {note}" for note in run.notes]
    return "\n".join(lines).rstrip() + "\n"


def _retrieval_note(run: Run) -> list[str]:
    sources = run.probe.get("queries", {}).get("chat_follow_up_50", {}).get("sources", [])
    if "document" in sources:
        return ["Chat context includes retrieval over the shared chunks (document sources).", ""]
    return [
        f"**Note:** chat answers cited only {', '.join(sources) or 'no'} sources: retrieval is "
        "not wired into the chat context (`chat.context.PASSAGE_SOURCES`), so the chat rows do "
        "not include searching the chunks; the retrieval section measures it on its own.",
        "",
    ]


def _other(result: Result) -> str:
    """The share of the machine other processes used while ``result`` was measured, and
    whether it is a second or third attempt (*)."""
    retried = "*" * int(result.extra.get("retries", 0))
    return f"{result.extra.get('other_cpu', 0):.0%}{retried}"


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _matrix(run: Run, config: str, table: dict[str, dict[int, Result]]) -> list[str]:
    local = run.matrix.get("local", {})
    additive = config.startswith("openai")
    title = TITLES.get(config) or f"Fake OpenAI-compatible model answering after {config[7:]}"
    lines = [
        f"## {title} (`{config}`)",
        "",
        "| request | clients | req/s | sustained req/s | p50 | p95 | p99 | errors | "
        "÷ floor (sustained) |" + (" p50 − local p50 |" if additive else "") + " other CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        + (" ---: |" if additive else "")
        + " ---: |",
    ]
    floor = table.get("floor", {})
    for name, cells in table.items():
        for conns, r in sorted(cells.items()):
            base = floor.get(conns)
            chat = name != "floor"
            ratio = f"{r.sustained_rps / base.rps:.0%}" if base and base.rps and chat else ""
            sustained = f"{r.sustained_rps:,.0f}" if chat else ""
            row = (
                f"| {NAMES[name]} | {conns} | {r.rps:,.0f} | {sustained} | {_ms(r.p50)} | "
                f"{_ms(r.p95)} | {_ms(r.p99)} | {r.errors} | {ratio} |"
            )
            if additive:
                other = local.get(name, {}).get(conns)
                row += f" {r.p50 - other.p50:+.1f} |" if other and name != "floor" else " |"
            lines.append(row + f" {_other(r)} |")
    peak = _peaks(table)
    if peak.get("floor"):
        lines += [
            "",
            "Sustained req/s counts the seconds the server kept working after a chat cell "
            "(remembering the answered chats on its background threads) before the next cell "
            "started. Peak (sustained) req/s over the levels: "
            + ", ".join(f"{name} {rps:,.0f}" for name, rps in peak.items())
            + "; chat ÷ floor at peak: "
            + ", ".join(
                f"{name} {rps / peak['floor']:.0%}" for name, rps in peak.items() if name != "floor"
            )
            + ".",
        ]
    return [*lines, ""]


def _ttfb(run: Run) -> list[str]:
    lines = [
        "## Streamed chat: time to first byte",
        "",
        'Follow-ups in the 50-message conversations with `"stream": true`; headers = response '
        "headers received, first delta = the first `delta` event (the first text), complete = "
        "the `done` event.",
        "",
        "| config | clients | streams/s | headers p50 | first delta p50 | p95 | p99 | "
        "complete p50 | errors | other CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for config, cells in run.ttfb.items():
        for conns, r in sorted(cells.items()):
            lines.append(
                f"| {config} | {conns} | {r.rps:,.0f} | {_ms(r.extra.get('headers_p50', 0))} | "
                f"{_ms(r.p50)} | {_ms(r.p95)} | {_ms(r.p99)} | "
                f"{_ms(r.extra.get('total_p50', 0))} | {r.errors} | {_other(r)} |"
            )
    return [*lines, ""]


def _paced(run: Run) -> list[str]:
    if not run.paced:
        return []
    lines = [
        f"## Open loop: {PACED_CONNS} clients who think between messages",
        "",
        f"Follow-up chats from {PACED_CONNS} clients offering a fixed rate in all (a share of "
        "the peak closed-loop follow-up rate of the same configuration), each on its own "
        "schedule; a request's latency runs from when it was due, so time spent queueing "
        "behind a late server counts (bench/pyload.py --rate).",
        "",
        "| config | offered chats/s | served/s | p50 | p95 | p99 | errors | other CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for config, cells in run.paced.items():
        for rate, r in sorted(cells.items()):
            lines.append(
                f"| {config} | {rate:g} | {r.rps:,.0f} | {_ms(r.p50)} | {_ms(r.p95)} | "
                f"{_ms(r.p99)} | {r.errors + r.non2xx} | {_other(r)} |"
            )
    return [*lines, ""]


def _scaling(run: Run) -> list[str]:
    if not run.scaling:
        return []
    lines = [
        f"## Scaling: follow-up chat, {run.plan.scale_conns} client(s), local provider",
        "",
        "One request at a time shows the work a chat does, without queueing behind other chats "
        "(at 8 clients the SQLite write queue adds ±30% noise between runs).",
        "",
        "| grows 10× | from | to | req/s | p50 | p99 | p50 change | other CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for what, small, large, a, b in run.scaling:
        change = (b.p50 / a.p50 - 1) if a.p50 else 0
        lines.append(
            f"| {what} | {small} | {large} | {a.rps:,.0f} → {b.rps:,.0f} | "
            f"{_ms(a.p50)} → {_ms(b.p50)} | {_ms(a.p99)} → {_ms(b.p99)} | {change:+.0%} | "
            f"{_other(a)} → {_other(b)} |"
        )
    lines += [
        "",
        "Every user and conversation had a first chat before anything was measured. "
        "Conversations grow by two messages per chat during the run; the model is given at most "
        "`CHAT_HISTORY_MESSAGES` (20) of them. The last row repeats the 200-user, full-corpus, "
        "50-message follow-up after the whole matrix has stored thousands more messages.",
    ]
    return [*lines, ""]


def _peaks(table: dict[str, dict[int, Result]]) -> dict[str, float]:
    """Each request's best req/s over the levels; sustained for chats."""
    return {
        name: max(
            ((r.rps if name == "floor" else r.sustained_rps) for r in cells.values()), default=0
        )
        for name, cells in table.items()
    }


def _targets(run: Run) -> list[str]:
    table = run.matrix.get("local")
    if not table:
        return []
    peak = _peaks(table)
    rows = []
    for name in ("chat_new", "chat_follow"):
        share = peak[name] / peak["floor"] if peak.get("floor") else 0
        what = f"{NAMES[name]} ≥ 40% of the floor's req/s (peaks, sustained)"
        rows.append((what, f"{share:.0%}", share >= 0.4))
        at32 = table[name].get(32)
        if at32:
            what = f"{NAMES[name]} p99 < 100 ms at 32 clients (closed loop)"
            rows.append((what, f"{_ms(at32.p99)} ms", at32.p99 < 100))
    for rate, r in sorted(run.paced.get("local", {}).items()):
        what = f"follow-up p99 < 100 ms at {PACED_CONNS} clients offering {rate:g} chats/s"
        rows.append((what, f"{_ms(r.p99)} ms", r.p99 < 100 and not r.non2xx))
    counts = run.probe.get("queries", {})
    if counts:
        worst = max(_plain(v) for k, v in counts.items() if k.startswith("chat"))
        total = max(v["count"] for k, v in counts.items() if k.startswith("chat"))
        what = f"≤ {QUERY_TARGET} SQL queries per chat (besides BEGIN/COMMIT)"
        rows.append((what, f"{worst} ({total} with them)", worst <= QUERY_TARGET))
        same = counts["chat_follow_up_5"]["count"] == counts["chat_follow_up_50"]["count"]
        rows.append(
            (
                "query count independent of history (5 vs 50 messages)",
                f"{counts['chat_follow_up_5']['count']} vs {counts['chat_follow_up_50']['count']}",
                same,
            )
        )
    retrieval = run.probe.get("retrieval", {}).get("default")
    if retrieval:
        what = f"retrieval < 10 ms p99 at {run.plan.chunks_large:,} chunks (in-process)"
        rows.append((what, f"{retrieval['p99_ms']:.1f} ms", retrieval["p99_ms"] < 10))
    lines = [
        "## Targets (local provider, embedded defaults)",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {what} | {value} | {'yes' if ok else '**no**'} |" for what, value, ok in rows]
    return [*lines, ""]


CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")


def _plain(found: dict[str, Any]) -> int:
    """Statements other than transaction control."""
    return sum(1 for q in found["queries"] if not q["sql"].upper().startswith(CONTROL))


def _queries(run: Run) -> list[str]:
    counts = run.probe.get("queries")
    if not counts:
        return []
    lines = ["## SQL queries per request (CaptureQueriesContext, in-process)", ""]
    for name, found in counts.items():
        lines.append(f"- {name}: {found['count']} ({_plain(found)} without transaction control)")
    lines += ["", "One follow-up chat in a 50-message conversation:", ""]
    for number, query in enumerate(counts["chat_follow_up_50"]["queries"], 1):
        sql = query["sql"]
        lines.append(f"{number}. `{sql[:150]}{'…' if len(sql) > 150 else ''}`")
    return [*lines, ""]


def _profile(run: Run) -> list[str]:
    profile = run.probe.get("profile", {})
    lines = ["## Profile of the chat path (pyinstrument, in-process)", ""]
    if "error" in profile:
        return [*lines, profile["error"], ""]
    if not profile:
        return []
    lines += [
        f"{profile['chats']} follow-up chats through Django's test client, "
        f"{profile['ms_per_chat']:.1f} ms each under the profiler.",
        "",
        "| project function (total time) | share | | function (self time) | share |",
        "| --- | ---: | --- | --- | ---: |",
    ]
    for (ours, total), (name, own) in zip(profile["project"], profile["self"], strict=False):
        lines.append(f"| `{ours}` | {total:.0%} | | `{name}` | {own:.1%} |")
    retrieval = run.probe.get("retrieval")
    if retrieval:
        default, single = retrieval["default"], retrieval["one_thread"]
        lines += [
            "",
            f"Retrieval on its own (`retrieval.selectors.passages_for`: embed, search, hydrate; "
            f"{default['queries']} questions over {run.plan.chunks_large:,} shared chunks, "
            f"{default['with_hits']} with hits): p50 {default['p50_ms']:.1f} ms, p99 "
            f"{default['p99_ms']:.1f} ms with faiss's {retrieval['threads']} OpenMP threads; "
            f"p50 {single['p50_ms']:.1f} ms, p99 {single['p99_ms']:.1f} ms with one "
            "(`faiss.omp_set_num_threads(1)`).",
        ]
    return [*lines, ""]


def _checks(run: Run) -> list[str]:
    lines = ["## Server-side check", ""]
    for config, check in run.checks.items():
        verdict = "passed" if check["passed"] else "**FAILED**"
        lines.append(
            f"- {config}: {verdict}. {check['client_2xx_chats']:,} chats answered 2xx to the "
            f"clients, {check['server_ok_logs']:,} OK request logs stored (up to "
            f"{check['in_flight_allowance']} more may finish after a client stops), "
            f"{check['server_failed_logs']} failed logs, {check['failed_messages']} failed "
            f"messages, {check['client_errors']} client-side errors; "
            f"{check['messages_total']:,} messages stored in all."
        )
    return [*lines, ""] if run.checks else []
