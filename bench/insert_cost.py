"""What one stored row's ``INSERT`` costs PostgreSQL, and what its constraints add.

The eleventh round of docs/performance.md took ``/score``'s database time apart with this
script. It replays the newest row of a table (by default ``scoring_decision``) the way the
platform sends a decision: one prepared ``INSERT … SELECT … FROM jsonb_populate_record(…)``
in autocommit, each time with a new primary key, and reads the backend's CPU from
``/proc/<pid>/stat``. The same statements run against copies of the database
(``CREATE DATABASE … TEMPLATE``), one per variant, in turns:

- ``as-is``: the table as migrated;
- ``no-checks``: without its CHECK constraints;
- ``no-fks``: without its foreign keys;
- ``neither``: without both;
- ``merged``: its CHECK constraints merged into one.

The database named on the command line is only read (and copied); the copies are dropped at
the end. It must have no other connection while it is copied, and PostgreSQL must run on
this host (the backend's CPU is read from ``/proc``). Run it on a benchmark database after a
``make bench`` (which leaves decisions in it)::

    .venv/bin/python bench/insert_cost.py credit_bench --statements 2000 --rounds 6
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the project root is not
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import cpu  # noqa: E402

VARIANTS = ("as-is", "no-checks", "no-fks", "neither", "merged")


def _connect(database: str, host: str, user: str) -> Any:
    conn = psycopg2.connect(dbname=database, host=host, user=user)
    conn.autocommit = True
    return conn


def _constraints(cur: Any, table: str, kind: str) -> list[tuple[str, str]]:
    """(name, definition) of ``table``'s constraints of ``kind`` ('c' check, 'f' foreign key)."""
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = %s ORDER BY conname",
        [table, kind],
    )
    return [(str(name), str(definition)) for name, definition in cur.fetchall()]


def _shape(cur: Any, table: str, variant: str) -> None:
    """Turn the copy's ``table`` into ``variant``."""
    checks, fks = _constraints(cur, table, "c"), _constraints(cur, table, "f")
    drop = {"as-is": [], "no-checks": checks, "no-fks": fks, "neither": checks + fks, "merged": checks}[variant]
    for name, _ in drop:
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name)))
    if variant == "merged" and checks:
        # Each definition reads "CHECK (<expression>)": one constraint holding them all, joined by AND.
        merged = " AND ".join(f"({definition[len('CHECK ') :]})" for _, definition in checks)
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT bench_merged_checks CHECK ({})").format(
                sql.Identifier(table), sql.SQL(merged)
            )
        )


@contextmanager
def _copies(source: str, table: str, host: str, user: str) -> Iterator[dict[str, str]]:
    """One copy of ``source`` per variant, shaped; dropped afterwards."""
    admin = _connect("postgres", host, user)
    names = {variant: f"{source}_ic_{variant.replace('-', '_')}" for variant in VARIANTS}
    try:
        with admin.cursor() as cur:
            for variant, name in names.items():
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                cur.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(source))
                )
                conn = _connect(name, host, user)
                try:
                    with conn.cursor() as copy:
                        _shape(copy, table, variant)
                finally:
                    conn.close()
        yield names
    finally:
        with admin.cursor() as cur:
            for name in names.values():
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def replay(database: str, table: str, statements: int, host: str, user: str) -> float:
    """Backend CPU (ms) per single-row ``INSERT`` of ``table``'s newest row, replayed ``statements`` times."""
    conn = _connect(database, host, user)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = int(cur.fetchone()[0])
            cur.execute(
                sql.SQL("SELECT row_to_json(t) FROM {} t ORDER BY created_at DESC LIMIT 1").format(
                    sql.Identifier(table)
                )
            )
            found = cur.fetchone()
            if found is None:
                raise SystemExit(f"{table} is empty in {database}: run the benchmark first")
            row: dict[str, Any] = found[0]
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in row)
            selected = sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(c)) for c in row)
            cur.execute(
                sql.SQL(
                    "PREPARE bench_insert AS INSERT INTO {t} ({c})"
                    " SELECT {s} FROM jsonb_populate_record(NULL::{t}, $1::jsonb) r"
                ).format(t=sql.Identifier(table), c=columns, s=selected)
            )
            documents = [json.dumps({**row, "id": str(uuid.uuid4())}) for _ in range(statements)]
            before = cpu.process_seconds(pid)
            for document in documents:
                cur.execute("EXECUTE bench_insert (%s)", [document])
            return (cpu.process_seconds(pid) - before) * 1000 / statements
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("database", help="a benchmark database with stored rows (only read and copied)")
    parser.add_argument("--table", default="scoring_decision", help="a table with a UUID key 'id' and 'created_at'")
    parser.add_argument("--statements", type=int, default=2000, help="inserts per measurement (2,000)")
    parser.add_argument("--rounds", type=int, default=6, help="measurements per variant, in turns (6)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    args = parser.parse_args(argv)
    results: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    with _copies(args.database, args.table, args.host, args.user) as names:
        for _ in range(args.rounds):
            for variant, name in names.items():
                results[variant].append(replay(name, args.table, args.statements, args.host, args.user))
    base = statistics.median(results["as-is"])
    print(f"{args.table}: backend CPU per single-row INSERT, median of {args.rounds} x {args.statements} (range)")
    for variant, values in results.items():
        median = statistics.median(values)
        delta = "" if variant == "as-is" else f"  {median - base:+.3f} ms"
        print(f"  {variant:<10} {median:.3f} ms ({min(values):.3f}-{max(values):.3f}){delta}")


if __name__ == "__main__":
    main()
