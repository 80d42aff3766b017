"""A person inside batch chunks' payloads: found, exported, blanked (the retention map's handler).

A chunk keeps its slice of the uploaded file (CSV text, compressed) until it is scored;
then the payload is emptied and the decisions hold the inputs. Until then (a job queued or
being scored, or a chunk dead-lettered and kept for a retry) a row of the payload may name
a client by its external id or by one of its applications' ids. No foreign key leads
there, so ``scoring.privacy`` names this handler for ``scoring.BatchChunk``
(``Rows.IN_PAYLOAD``) and the privacy app calls it:

- ``holds``: a chunk **being scored** that names the person **defers** the erasure (the
  worker holds the rows in memory and would store them after the erasure). It is locked,
  with every other chunk naming the person, for the rest of the erasure's transaction: a
  queued chunk cannot be claimed meanwhile.
- ``erase``: in queued and dead-lettered chunks, each of the person's rows is replaced by a
  row of empty cells (and, for a record spanning lines, blank lines), so that every other
  row keeps its number; scored later, it is refused for its missing values, naming no one.
  An error message that quotes one of the person's ids is replaced by ``[erased]``.
- ``export``: the person's rows, cell by cell, with their job, chunk and row number.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from creditplatform.retention import PayloadRows
from scoring.batch.files import header_columns, pack
from scoring.choices import BatchChunkStatus, BatchFileFormat
from scoring.models import BatchChunk, Client, CreditApplication

WITH_PAYLOAD = (BatchChunkStatus.PENDING, BatchChunkStatus.RUNNING, BatchChunkStatus.DEAD)
ERASED = "[erased]"


@dataclass(frozen=True)
class Record:
    """One record of a payload: its lines (``start`` to ``end``, exclusive), row number and cells."""

    start: int
    end: int
    row: int
    cells: list[str] | None  # None: not readable as CSV


@dataclass(frozen=True)
class Payload:
    names: list[str]
    delimiter: str
    header: str  # the header line, terminator included
    lines: list[str]  # the body's lines, terminators included
    records: list[Record]


def identifiers_of(client: Client) -> set[str]:
    """The ids a batch file may name the person by: the external id and its applications' ids."""
    applications = CreditApplication.objects.filter(client=client).exclude(application_id=None)
    ids = {client.client_id, *applications.values_list("application_id", flat=True)}
    return {i for i in ids if i}


def read_payload(stored: bytes, first_row: int, *, by_position: bool) -> Payload:
    """A payload's records with their lines, numbered as ``files.read_chunk`` numbers them."""
    text = zlib.decompress(stored).decode("utf-8")
    end = text.find("\n")
    header = text if end < 0 else text[: end + 1]
    names, delimiter = header_columns(header.rstrip("\r\n"))
    lines = io.StringIO(text[len(header) :], newline="").readlines()
    return Payload(names, delimiter, header, lines, list(_records(lines, delimiter, first_row, by_position)))


def _records(lines: list[str], delimiter: str, first_row: int, by_position: bool) -> Iterator[Record]:
    reader = csv.reader(iter(lines), delimiter=delimiter)
    consumed, index = 0, 0
    while True:
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            cells = None
        start, consumed = consumed, reader.line_num
        if cells == []:
            continue  # a blank line: skipped, keeps the numbering
        yield Record(start, consumed, first_row + (index if by_position else start), cells)
        index += 1


def _names(record: Record, payload: Payload, ids: set[str]) -> bool:
    if record.cells is None:
        raw = "".join(payload.lines[record.start : record.end])
        return any(i in raw for i in ids)
    return any(cell.strip() in ids for cell in record.cells)


def _blanked(payload: Payload, records: list[Record]) -> bytes:
    """The payload with these records replaced by empty cells (then blank lines: the numbering stays)."""
    lines = list(payload.lines)
    for record in records:
        for number in range(record.start, record.end):
            line = lines[number]
            ending = line[len(line.rstrip("\r\n")) :] or "\n"
            lines[number] = (payload.delimiter * (len(payload.names) - 1) if number == record.start else "") + ending
    return pack((payload.header + "".join(lines)).encode("utf-8"))


def _chunks(ids: set[str], *, lock: bool) -> Iterator[tuple[BatchChunk, Payload, list[Record]]]:
    """Chunks whose payload names one of ``ids``, with the records that do (locked when asked)."""
    if not ids:
        return
    needles = [i.encode("utf-8") for i in ids]
    candidates: list[int] = []
    for pk, stored in BatchChunk.objects.filter(status__in=WITH_PAYLOAD).values_list("pk", "payload").iterator():
        text = zlib.decompress(bytes(stored)) if stored else b""
        if any(n in text for n in needles):
            candidates.append(pk)
    if not candidates:
        return
    chunks: QuerySet[BatchChunk] = BatchChunk.objects.filter(pk__in=candidates).select_related("job")
    if lock:
        chunks = chunks.select_for_update(of=("self",))
    for chunk in chunks.order_by("pk"):
        if not chunk.payload:
            continue  # scored meanwhile
        payload = read_payload(
            bytes(chunk.payload), chunk.first_row, by_position=chunk.job.file_format == BatchFileFormat.PARQUET
        )
        records = [r for r in payload.records if _names(r, payload, ids)]
        if records:
            yield chunk, payload, records


class ChunkPayloads(PayloadRows):
    """``scoring.BatchChunk``'s handler in the retention map (module docstring)."""

    def holds(self, client: Any) -> list[str]:
        lock = transaction.get_connection().in_atomic_block
        return [
            f"Batch job {str(chunk.job_id)[:8]} is scoring a chunk (#{chunk.number}) that names the person: "
            "the erasure waits until it is scored (minutes), then runs at the next attempt."
            for chunk, _, _ in _chunks(identifiers_of(client), lock=lock)
            if chunk.status == BatchChunkStatus.RUNNING
        ]

    def export(self, client: Any) -> list[dict[str, Any]]:
        rows = []
        for chunk, payload, records in _chunks(identifiers_of(client), lock=False):
            for record in records:
                cells = dict(zip(payload.names, record.cells, strict=False)) if record.cells is not None else None
                rows.append(
                    {
                        "batch_job": str(chunk.job_id),
                        "chunk": chunk.number,
                        "status": chunk.status,
                        "row": record.row,
                        "cells": cells,
                    }
                )
        return rows

    def erase(self, client: Any) -> int:
        ids = identifiers_of(client)
        blanked = 0
        for chunk, payload, records in _chunks(ids, lock=True):
            if chunk.status == BatchChunkStatus.RUNNING:  # holds() defers first; a direct call must not race
                raise ValidationError(
                    {"client": f"Batch job {str(chunk.job_id)[:8]} is scoring rows of this person; try again."}
                )
            chunk.payload = _blanked(payload, records)
            fields = ["payload"]
            if any(i in chunk.last_error for i in ids):
                chunk.last_error, fields = ERASED, [*fields, "last_error"]
            chunk.save(update_fields=fields)
            blanked += len(records)
        return blanked


__all__ = ["ChunkPayloads", "identifiers_of", "read_payload"]
