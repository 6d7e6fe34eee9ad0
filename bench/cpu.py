"""How much of the machine other processes used during a measurement: the CPU time of the whole
machine (/proc/stat) minus that of the benchmark's own processes (the runner with the load tools
it waited for, and the process groups of the servers it started).

On a shared machine this says whether a figure is the server's or its neighbours'.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Process groups the benchmark started (servers.py adds and removes them).
OWN_GROUPS: set[int] = set()
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
    return Snapshot(busy=busy, total=total, own=own + _groups_cpu())


def other_share(before: Snapshot, after: Snapshot) -> float:
    """The share of the machine (0-1, all CPUs) used by processes that are not ours."""
    elapsed = after.total - before.total
    if elapsed <= 0:
        return 0.0
    foreign = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, min(1.0, foreign / elapsed))


def _groups_cpu() -> float:
    if not OWN_GROUPS:
        return 0.0
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        rest = stat.rsplit(")", 1)[1].split()
        if int(rest[2]) in OWN_GROUPS:  # pgrp
            ticks += sum(int(v) for v in rest[11:15])  # utime stime cutime cstime
    return ticks / _TICK
