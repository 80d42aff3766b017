"""Tasks for ``fraud.sandbox.ChildProcess`` that misbehave on purpose (run in the child only)."""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection


def spin(connection: Connection) -> None:
    while True:  # burns CPU until RLIMIT_CPU stops it
        pass


def sleep(connection: Connection, *args: object) -> None:
    time.sleep(600)  # no CPU at all: only the deadline stops it


def stall_after_fields(connection: Connection, *args: object) -> None:
    """A back-test child that says which fields it reads, then never answers a chunk."""
    connection.send(("ok", ("amount",)))
    time.sleep(600)


def allocate(connection: Connection) -> None:
    hoard = bytearray(4 * 1024**3)  # more than the child may map
    connection.send(("ok", len(hoard)))


def crash(connection: Connection) -> None:
    os._exit(3)


def answer(connection: Connection, value: object) -> None:
    connection.send(("ok", value))
