"""Machine CPU per request, by process group: where the CPU time of a benchmark run went.

Two snapshots of ``/proc`` (every process's user and system time, and the machine's idle
time), one before a wrk run and one after, give each group's CPU seconds over the run:
the gunicorn master and workers, PostgreSQL (processes whose command starts with
``postgres``; those whose title names the benchmark database are its backends), Redis,
wrk itself (from ``getrusage`` of the finished child: it has exited by the second
snapshot), and everything else on the machine. Divided by the requests answered, that is
the machine's cost of one request. A process that starts during the run counts from zero;
one that exits during the run loses what it spent since the first snapshot.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GROUPS = ("gunicorn", "postgres", "redis", "wrk", "other")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Snapshot:
    """Per process (pid, start time): (group, user ticks, system ticks); and the machine's idle and total ticks."""

    processes: dict[tuple[int, int], tuple[str, int, int]]
    idle: int
    total: int
    children_user: float = 0.0  # seconds, this process's waited-for children (wrk)
    children_sys: float = 0.0
    own_database: set[tuple[int, int]] = field(default_factory=set)


def parse_stat(text: str) -> tuple[str, int, int, int]:
    """``/proc/<pid>/stat`` -> (command, user ticks, system ticks, start time); the command may hold spaces."""
    comm = text[text.index("(") + 1 : text.rindex(")")]
    rest = text[text.rindex(")") + 2 :].split()
    return comm, int(rest[11]), int(rest[12]), int(rest[19])


def process_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process of this host has used (a PostgreSQL backend, say)."""
    _, user, system, _ = parse_stat(Path(f"/proc/{pid}/stat").read_text())
    return (user + system) / TICKS


def group_of(pid: int, comm: str, gunicorn_pids: Iterable[int]) -> str:
    if pid in gunicorn_pids:
        return "gunicorn"
    if comm.startswith("postgres"):
        return "postgres"
    if comm.startswith("redis-server"):
        return "redis"
    return "other"


def machine_ticks(stat: str) -> tuple[int, int]:
    """(idle + iowait, total) ticks from the ``cpu`` line of ``/proc/stat``."""
    fields = [int(x) for x in stat.splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])  # guest time is already inside user


def snapshot(gunicorn_pids: Iterable[int], database: str = "") -> Snapshot:
    pids = set(gunicorn_pids)
    processes: dict[tuple[int, int], tuple[str, int, int]] = {}
    own: set[tuple[int, int]] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            comm, user, system, started = parse_stat((entry / "stat").read_text())
            group = group_of(pid, comm, pids)
            if group == "postgres" and database:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if f" {database} " in f" {title} ":
                    own.add((pid, started))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        processes[(pid, started)] = (group, user, system)
    idle, total = machine_ticks(Path("/proc/stat").read_text())
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(processes, idle, total, children.ru_utime, children.ru_stime, own)


def cpu_split(before: Snapshot, after: Snapshot, requests: int, ticks_per_second: float = TICKS) -> dict[str, Any]:
    """CPU milliseconds per request by group (user, system, both), this database's backends, and idle share."""
    spent = {g: [0.0, 0.0] for g in GROUPS}
    own = 0.0
    for key, (group, user, system) in after.processes.items():
        _, user0, system0 = before.processes.get(key, (group, 0, 0))
        du, ds = max(user - user0, 0) / ticks_per_second, max(system - system0, 0) / ticks_per_second
        spent[group][0] += du
        spent[group][1] += ds
        if key in after.own_database:
            own += du + ds
    spent["wrk"] = [after.children_user - before.children_user, after.children_sys - before.children_sys]
    per = 1000 / requests if requests else 0.0
    total = after.total - before.total
    out: dict[str, Any] = {
        g: {"ms": round((u + s) * per, 4), "user_ms": round(u * per, 4), "sys_ms": round(s * per, 4)}
        for g, (u, s) in spent.items()
    }
    out["postgres"]["this_database_ms"] = round(own * per, 4)
    out["requests"] = requests
    out["idle_share"] = round((after.idle - before.idle) / total, 4) if total > 0 else 0.0
    return out


def cpu_line(cpu: dict[str, Any]) -> str:
    """``machine CPU per request: gunicorn X ms (user Y / sys Z), postgres .., ...; cores idle N %``."""
    parts = []
    for group in GROUPS:
        g = cpu[group]
        part = f"{group} {g['ms']:.2f} ms (user {g['user_ms']:.2f} / sys {g['sys_ms']:.2f})"
        if group == "postgres" and "this_database_ms" in g:
            part += f" [this database's backends {g['this_database_ms']:.2f}]"
        parts.append(part)
    total = sum(cpu[g]["ms"] for g in GROUPS)
    return f"machine CPU per request: {', '.join(parts)}; all {total:.2f} ms; cores idle {cpu['idle_share']:.0%}"
