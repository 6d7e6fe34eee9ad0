"""How much of the machine other processes used during a measurement: the CPU time of the whole
machine (/proc/stat) minus that of the benchmark's own processes (the runner with the load tools
it waited for, the process groups of the servers it started and, while it measures on them, the
PostgreSQL and Redis servers).

On a shared machine this says whether a figure is the server's or its neighbours'.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Process groups the benchmark started (servers.py adds and removes them).
OWN_GROUPS: set[int] = set()
# Programs counted as the benchmark's own although it did not start them: the database and
# cache servers a configuration runs on (see `counting`).
OWN_COMMANDS: set[str] = set()
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Snapshot:
    busy: float  # CPU-seconds the machine spent busy, all CPUs together
    total: float  # CPU-seconds elapsed, all CPUs together
    own: float  # CPU-seconds of the benchmark's own processes


def snapshot() -> Snapshot:
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    total = sum(fields) / _TICK
    busy = (user + nice + system + irq + softirq + steal) / _TICK
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return Snapshot(busy=busy, total=total, own=own + _own_processes_cpu())


def other_share(before: Snapshot, after: Snapshot) -> float:
    """The share of the machine (0-1, all CPUs) used by processes that are not ours."""
    elapsed = after.total - before.total
    if elapsed <= 0:
        return 0.0
    foreign = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, min(1.0, foreign / elapsed))


@contextmanager
def counting(*commands: str) -> Iterator[None]:
    """Count processes running ``commands`` (their names in /proc) as the benchmark's own
    meanwhile: the PostgreSQL and Redis servers do the system under test's work."""
    OWN_COMMANDS.update(commands)
    try:
        yield
    finally:
        OWN_COMMANDS.difference_update(commands)


def _own_processes_cpu() -> float:
    if not OWN_GROUPS and not OWN_COMMANDS:
        return 0.0
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        command, after = stat.split(" (", 1)[1].rsplit(") ", 1)
        rest = after.split()
        if int(rest[2]) in OWN_GROUPS or command in OWN_COMMANDS:  # pgrp, comm
            ticks += sum(int(v) for v in rest[11:15])  # utime stime cutime cstime
    return ticks / _TICK
