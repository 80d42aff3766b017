"""Garbage-collection pauses of the gunicorn workers during the benchmark's runs.

``gunicorn.conf.py`` makes each worker append every collection to ``GC_PAUSE_LOG`` (one
file per worker: wall-clock time, generation, pause in milliseconds) when that variable
names a directory. A full collection (generation 2) stops the worker for as long as it
walks its objects; the report shows how many happened during the runs and the longest
pause, beside the latencies they add to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read(directory: Path) -> list[tuple[float, int, float]]:
    """Every collection logged in ``directory``: (wall-clock time, generation, pause in ms)."""
    events = []
    for path in sorted(directory.glob("gc-*.txt")):
        for line in path.read_text().splitlines():
            try:
                when, generation, pause = line.split()
                events.append((float(when), int(generation), float(pause)))
            except ValueError:  # a line cut short by a worker stopped mid-write
                continue
    return events


def summary(events: list[tuple[float, int, float]], spans: list[tuple[float, float]]) -> dict[str, Any]:
    """The collections that ended within one of ``spans`` (each a run's start and end)."""
    inside = [e for e in events if any(start <= e[0] <= end for start, end in spans)]
    full = [ms for _, generation, ms in inside if generation == 2]
    young = [ms for _, generation, ms in inside if generation < 2]
    return {
        "full": len(full),
        "full_max_ms": max(full, default=0.0),
        "young": len(young),
        "young_max_ms": max(young, default=0.0),
        "total_ms": sum(ms for *_, ms in inside),
    }


def line(server: str, load: str, gc: dict[str, Any], runs: int) -> str:
    return (
        f"{server} {load}, garbage collection in the workers over {runs} run(s): "
        f"{gc['full']} full, longest {gc['full_max_ms']:.1f} ms; {gc['young']} young, longest "
        f"{gc['young_max_ms']:.1f} ms; {gc['total_ms']:.0f} ms in all"
    )
