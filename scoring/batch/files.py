"""Batch files: checked when they arrive, cut into chunks, read back by the workers (no Django).

A file is CSV (UTF-8, optional BOM; comma, semicolon or tab separated, told by the header)
or Parquet. What makes the whole file unusable is refused at once, with a ``BatchFileError``
naming the problem: not CSV or Parquet, not UTF-8, no header, unknown, duplicate or missing
required columns, a quoted value running over lines (a quote not closed), no rows, too many
rows. What is wrong with one row is not: the worker rejects that row with its line and
reason, and scores the others.

Columns are matched strictly, as ``/score`` matches fields: a column the champion does not
take is refused (a misspelt ``revenue`` silently ignored would change every decision).
Besides the champion's features, ``client_id`` and ``application_id`` are accepted.

Each chunk's payload is CSV text, header line first, whatever the file's format: a CSV
chunk is the file's own bytes for its lines; a Parquet chunk is its record batch written
as CSV (missing values and NaN as empty cells). It is stored compressed (``pack``: zlib at
its fastest level, a third of the size, so a million rows cost the database 20 MB of
writes instead of 50). A row is numbered by its line in a CSV file
(the header is line 1, so the first applicant is row 2, as a spreadsheet numbers it), and
by its position (from 1) in a Parquet file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scoring.ml.schema import CATEGORICAL, FeatureSchema

LINK_COLUMNS = ("client_id", "application_id")
DELIMITERS = (",", ";", "\t")
PARQUET_MAGIC = b"PAR1"
_NEWLINE = 10
_QUOTE = 34
_BLOCK = 16 * 1024 * 1024


class BatchFileError(ValueError):
    """The file cannot be scored at all (the message says why and what to fix)."""


@dataclass(frozen=True)
class Slice:
    """A run of consecutive rows, the unit of work of one chunk."""

    first_row: int
    last_row: int
    rows: int
    payload: bytes


@dataclass(frozen=True)
class SplitFile:
    file_format: str  # "csv" or "parquet"
    columns: list[str]
    total_rows: int
    slices: list[Slice]
    size: int
    sha256: str


def split_upload(
    data: bytes,
    filename: str,
    *,
    schema: FeatureSchema,
    chunk_rows: int,
    max_rows: int,
    max_unpacked_bytes: int | None = None,
) -> SplitFile:
    """Check a whole file and cut it into slices of at most ``chunk_rows`` rows.

    ``max_unpacked_bytes`` caps what a Parquet file's rows take once unpacked and written as
    CSV (a CSV file is its own size): a few kilobytes of compressed, dictionary-encoded Parquet
    can hold gigabytes of text.
    """
    if not data:
        raise BatchFileError("The file is empty.")
    digest = hashlib.sha256(data).hexdigest()
    if data[:4] == PARQUET_MAGIC:
        columns, total, slices = _split_parquet(data, schema, chunk_rows, max_rows, max_unpacked_bytes)
        file_format = "parquet"
    else:
        if filename.lower().endswith((".parquet", ".pq")):
            raise BatchFileError("This is not a Parquet file (no PAR1 header).")
        _refuse_binary(data)
        columns, total, slices = _split_csv(data, schema, chunk_rows, max_rows)
        file_format = "csv"
    return SplitFile(file_format, columns, total, slices, len(data), digest)


def _refuse_binary(data: bytes) -> None:
    if data[:4] == b"PK\x03\x04":
        raise BatchFileError("This is a ZIP archive (an Excel workbook?): export the sheet as CSV, or use Parquet.")
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # OLE2 compound file
        raise BatchFileError("This is an Excel 97-2003 workbook (.xls): save the sheet as CSV UTF-8, or use Parquet.")
    if data[:2] == b"\x1f\x8b":
        raise BatchFileError("This file is compressed (gzip): upload the CSV itself.")
    encoding = _wide_encoding(data[:4096])
    if encoding:
        raise BatchFileError(f'The file is {encoding} text (Excel\'s "Unicode Text" is UTF-16); save it as CSV UTF-8.')
    if b"\x00" in data[:4096]:
        raise BatchFileError("This is not a CSV text file (it holds binary data); CSV or Parquet are accepted.")


def _wide_encoding(head: bytes) -> str:
    """ "UTF-16" or "UTF-32" for text in those encodings (by its byte-order mark, or UTF-16's
    zero bytes every other byte), else ""."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    even = head[: len(head) // 2 * 2]
    if len(even) >= 4 and (not any(even[1::2]) or not any(even[0::2])) and any(even):
        return "UTF-16"  # ASCII text in UTF-16 without a mark: every other byte is zero
    return ""


def check_columns(columns: Sequence[str], schema: FeatureSchema) -> None:
    """The header rules: known, distinct, named, with every required feature present."""
    if not columns or all(not c for c in columns):
        raise BatchFileError("The file has no header line naming its columns.")
    empty = [i + 1 for i, c in enumerate(columns) if not c]
    if empty:
        raise BatchFileError(f"Column {empty[0]} of the header has no name.")
    # Counted once (linear): a header of tens of thousands of names (a transposed sheet) is refused at once.
    duplicates = sorted(c for c, n in Counter(columns).items() if n > 1)
    if duplicates:
        raise BatchFileError(f"Duplicate columns: {', '.join(c[:40] for c in duplicates[:10])}.")
    aliases = schema.aliases
    both = [f"'{a}' and '{canonical}'" for a, canonical in aliases.items() if a in columns and canonical in columns]
    if both:
        raise BatchFileError(f"Two columns name the same feature: {', '.join(both)}; keep one of them.")
    unknown = [c for c in columns if c not in schema and c not in aliases and c not in LINK_COLUMNS]
    if unknown:
        shown = ", ".join(c[:40] for c in unknown[:10])
        raise BatchFileError(
            f"Unknown columns: {shown}. The champion model takes: {', '.join(schema.names)} "
            f"(and optionally {', '.join(LINK_COLUMNS)})."
        )
    missing = [
        f.name for f in schema if f.required and f.name not in columns and not any(a in columns for a in f.aliases)
    ]
    if missing:
        raise BatchFileError(f"Missing required columns: {', '.join(missing)}.")


# --- CSV -----------------------------------------------------------------------------------


def header_columns(line: str) -> tuple[list[str], str]:
    """The column names of a header line and the delimiter it uses."""
    line = line.rstrip("\r\n")
    found = [d for d in DELIMITERS if d in line]
    if len(found) > 1:
        raise BatchFileError("The header mixes separators; use one of comma, semicolon or tab.")
    delimiter = found[0] if found else ","
    try:
        names = next(csv.reader([line], delimiter=delimiter, strict=True), [])
    except csv.Error as exc:
        raise BatchFileError(f"The header line is not valid CSV ({exc}).") from exc
    return [name.strip() for name in names], delimiter


def _split_csv(
    data: bytes, schema: FeatureSchema, chunk_rows: int, max_rows: int
) -> tuple[list[str], int, list[Slice]]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BatchFileError(f"The file is not UTF-8 text (line {line}); save it as CSV UTF-8.") from exc
    end_of_header = data.find(b"\n")
    header = data if end_of_header < 0 else data[:end_of_header]
    if b"\r" in header.rstrip(b"\r"):
        # Lines ended by a carriage return alone (classic Mac OS): the whole file reads as one line.
        raise BatchFileError(
            "The file's lines end with a carriage return alone (old Mac style); save it with LF or CRLF line ends."
        )
    columns, _ = header_columns(header.decode("utf-8"))
    check_columns(columns, schema)
    body_start = len(data) if end_of_header < 0 else end_of_header + 1
    # Lines are counted (in C) before they are read: blank ones cost memory and time too, and a file
    # of millions of them (or of short lines) would take gigabytes to find it has no row, or too many.
    line_count = data.count(b"\n", body_start) + (0 if data.endswith(b"\n") or body_start == len(data) else 1)
    if line_count > 2 * max_rows:
        raise BatchFileError(
            f"The file has {line_count:,} lines after its header; at most {max_rows:,} rows are taken per file, "
            f"in {2 * max_rows:,} lines (blank lines included)."
        )
    if b'"' in data[body_start:]:
        starts, lines = _quoted_records(data, body_start, columns)
    else:
        starts, lines = _plain_records(data, body_start)
    total = len(starts)
    if not total:
        raise BatchFileError("The file has a header but no applicant rows.")
    if total > max_rows:
        raise BatchFileError(f"The file has {total:,} rows; at most {max_rows:,} are taken per file.")
    head = header + b"\n"
    slices = []
    for first in range(0, total, chunk_rows):
        last = min(first + chunk_rows, total) - 1
        stop = int(starts[last + 1]) if last + 1 < total else len(data)
        payload = head + data[int(starts[first]) : stop]
        slices.append(Slice(int(lines[first]), int(lines[last]), last - first + 1, payload))
    return columns, total, slices


def _plain_records(data: bytes, body_start: int) -> tuple[np.ndarray, np.ndarray]:
    """Byte offset and line number of each record of a file without quotes: its non-blank lines.

    Vectorised (files are large): the newlines are found by NumPy, block by block.
    """
    view = np.frombuffer(data, dtype=np.uint8)
    ends = np.concatenate(
        [np.flatnonzero(view[i : i + _BLOCK] == _NEWLINE) + i for i in range(body_start, len(data), _BLOCK)]
        or [np.zeros(0, dtype=np.int64)]
    )
    starts = np.concatenate([[body_start], ends + 1])
    stops = np.concatenate([ends, [len(data)]])
    lengths = stops - starts
    cr_only = (lengths == 1) & (view[np.minimum(starts, len(data) - 1)] == 13)
    keep = (lengths > 0) & ~cr_only
    lines = np.arange(2, len(starts) + 2)
    return starts[keep], lines[keep]


def _quoted_records(data: bytes, body_start: int, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The same for a file with quotes, found by the csv module itself.

    A quoted value may hold separators, not line breaks (but at its edges, trimmed like
    spaces): no column takes one (numbers, categories, ids), and a quote left open would
    otherwise read every line after it, up to the next quote or the end of the file, as one
    value: those applicants would be neither scored nor rejected. Such a file is refused,
    naming the line and the column.
    """
    lines = _LineOffsets(data[body_start:].decode("utf-8"))
    reader = csv.reader(lines, delimiter=_delimiter_of(data))
    starts: list[int] = []
    numbers: list[int] = []
    consumed = 0  # lines read before the next record
    while True:
        start = lines.offset
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise BatchFileError(f"Line {consumed + 2}: not valid CSV ({exc}).") from exc
        if reader.line_num - consumed > 1:  # a value holds a line break: only at its edge (trimmed)
            _refuse_line_break(record, columns, consumed + 2, reader.line_num + 1)
        if record:
            starts.append(body_start + start)
            numbers.append(consumed + 2)
        consumed = reader.line_num
    return np.asarray(starts, dtype=np.int64), np.asarray(numbers, dtype=np.int64)


def _refuse_line_break(record: list[str], columns: list[str], first: int, last: int) -> None:
    position = next((i for i, cell in enumerate(record) if "\n" in cell.strip()), None)
    if position is None:
        return  # "52\n": a line break at a value's edge is trimmed like a space
    column = columns[position] if position < len(columns) else f"{position + 1}"
    raise BatchFileError(
        f"Line {first}: the quoted value of column {column} runs on to line {last} (a quote not closed?). "
        "A value cannot hold a line break: the lines after it would be read as part of it."
    )


def _delimiter_of(data: bytes) -> str:
    end = data.find(b"\n")
    return header_columns((data if end < 0 else data[:end]).decode("utf-8"))[1]


class _LineOffsets:
    """Lines of a text (split on newline only), with the byte offset where the next one starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0  # characters
        self.offset = 0  # bytes (UTF-8)

    def __iter__(self) -> _LineOffsets:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.text):
            raise StopIteration
        end = self.text.find("\n", self.position)
        end = len(self.text) if end < 0 else end + 1
        line = self.text[self.position : end]
        self.position = end
        self.offset += len(line) if line.isascii() else len(line.encode("utf-8"))
        return line


# --- Parquet -------------------------------------------------------------------------------


def _split_parquet(
    data: bytes, schema: FeatureSchema, chunk_rows: int, max_rows: int, max_unpacked_bytes: int | None = None
) -> tuple[list[str], int, list[Slice]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        arrow_schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise BatchFileError("This is not a readable Parquet file.") from exc
    columns = list(arrow_schema.names)
    check_columns(columns, schema)
    for column in columns:
        _check_parquet_type(column, arrow_schema.field(column).type, schema)
    total = parquet.metadata.num_rows
    if not total:
        raise BatchFileError("The file has no applicant rows.")
    if total > max_rows:
        raise BatchFileError(f"The file has {total:,} rows; at most {max_rows:,} are taken per file.")
    budget = _UnpackBudget(max_unpacked_bytes, len(columns))
    budget.check_pages(parquet.metadata)
    texts = [c for c in columns if _is_text(pa, arrow_schema.field(c).type)]
    if texts:  # read as dictionaries: a repeated long value is measured before it is written out
        parquet = pq.ParquetFile(io.BytesIO(data), read_dictionary=texts)
    slices = []
    first = 1
    try:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            budget.check_batch(batch)
            table = pa.Table.from_batches([batch])
            for i, name in enumerate(table.column_names):
                column = table.column(i)
                if pa.types.is_floating(column.type):  # NaN is how pandas writes a missing number
                    table = table.set_column(i, name, pc.if_else(pc.is_nan(column), None, column))
                elif pa.types.is_dictionary(column.type):
                    table = table.set_column(i, name, column.cast(pa.string()))
            out = io.BytesIO()
            pacsv.write_csv(table, out)
            budget.spent += out.tell()
            slices.append(Slice(first, first + table.num_rows - 1, table.num_rows, out.getvalue()))
            first += table.num_rows
    except (pa.ArrowException, OSError) as exc:
        # A damaged page is an OSError (pyarrow's ArrowIOError), not an ArrowException.
        raise BatchFileError("This Parquet file cannot be read to the end (corrupt or truncated).") from exc
    return columns, total, slices


def _is_text(pa: Any, arrow_type: Any) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


class _UnpackBudget:
    """What a Parquet file's rows may take unpacked, as CSV (``max_unpacked_bytes``; None: no cap)."""

    NUMBER = 26  # the longest number as text (repr of a float), its separator included

    def __init__(self, limit: int | None, columns: int) -> None:
        self.limit = limit
        self.columns = columns
        self.spent = 0  # CSV bytes written so far

    def _refuse(self, column: str, longest: int | None = None) -> None:
        widest = f" (values of up to {longest:,} characters)" if longest else ""
        raise BatchFileError(
            f"Unpacked, this file's rows would take more than {self.limit:,} bytes as CSV, mostly "
            f"column {column}{widest}; ids and categories are short, numbers are numbers."
        )

    def check_pages(self, metadata: Any) -> None:
        """The pages' own unpacked size (values stored plain, then compressed)."""
        if self.limit is None:
            return
        sizes: dict[str, int] = {}
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for i in range(row_group.num_columns):
                chunk = row_group.column(i)
                name = chunk.path_in_schema.split(".")[0]
                sizes[name] = sizes.get(name, 0) + chunk.total_uncompressed_size
        if sizes and sum(sizes.values()) > self.limit:
            self._refuse(max(sizes, key=lambda n: sizes[n]))

    def check_batch(self, batch: Any) -> None:
        """A batch's text as it will be written out (dictionary values times their uses), before it is."""
        if self.limit is None:
            return
        import pyarrow as pa
        import pyarrow.compute as pc

        text: dict[str, int] = {}
        longest: dict[str, int] = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if pa.types.is_dictionary(column.type):
                lengths = pc.binary_length(column.dictionary)
                text[name] = pc.sum(pc.take(lengths, column.indices)).as_py() or 0
                longest[name] = pc.max(lengths).as_py() or 0
            elif _is_text(pa, column.type):
                lengths = pc.binary_length(column)
                text[name], longest[name] = pc.sum(lengths).as_py() or 0, pc.max(lengths).as_py() or 0
        estimate = sum(text.values()) + batch.num_rows * self.NUMBER * (self.columns - len(text))
        if self.spent + estimate > self.limit:
            widest = max(text, key=lambda n: text[n]) if text else batch.schema.names[0]
            self._refuse(widest, longest.get(widest))


def _check_parquet_type(column: str, arrow_type: Any, schema: FeatureSchema) -> None:
    import pyarrow as pa

    textual = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_null(arrow_type)
    if pa.types.is_dictionary(arrow_type):
        textual = pa.types.is_string(arrow_type.value_type) or pa.types.is_large_string(arrow_type.value_type)
    numeric = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    if column in LINK_COLUMNS:
        ok = textual or pa.types.is_integer(arrow_type)
        expected = "text (or whole numbers)"
    elif schema[schema.aliases.get(column, column)].type == CATEGORICAL:
        ok, expected = textual, "text (a category)"
    else:
        ok, expected = textual or numeric, "numbers"
    if not ok:
        raise BatchFileError(f"Column {column} is of type {arrow_type}; it should hold {expected}.")


# --- Storing and reading a chunk back (the worker) --------------------------------------------


def pack(payload: bytes) -> bytes:
    """A chunk's payload as stored."""
    return zlib.compress(payload, 1)


def pack_all(payloads: list[bytes]) -> list[bytes]:
    """``pack`` on every chunk, on every core (zlib releases the GIL)."""
    if len(payloads) < 4:
        return [pack(p) for p in payloads]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(pack, payloads))


@dataclass
class ChunkRows:
    """The rows of one chunk: their numbers, their cells by column, and rows that are not rows."""

    rows: np.ndarray  # row number of each record (int64)
    columns: dict[str, list[str]]
    malformed: dict[int, str] = field(default_factory=dict)  # row -> why it could not be read


def read_chunk(stored: bytes, first_row: int, *, by_position: bool) -> ChunkRows:
    """Parse a chunk's stored payload; a record with the wrong number of cells is malformed, not fatal.

    Without quotes a line is a record and is split on the delimiter (fast); with quotes the
    csv module reads it, as it read the file when it was split.
    """
    text = zlib.decompress(stored).decode("utf-8")
    end = text.find("\n")
    names, delimiter = header_columns(text if end < 0 else text[:end])
    body = "" if end < 0 else text[end + 1 :]
    width = len(names)
    if '"' not in body:
        regular = _regular_columns(body, names, delimiter, first_row)
        if regular is not None:
            return regular
        lines = body.split("\n")
        records: Iterator[tuple[int, list[str] | str]] = (
            (i, (line[:-1] if line.endswith("\r") else line).split(delimiter))
            for i, line in enumerate(lines)
            if line not in ("", "\r")
        )
    else:
        records = _quoted_chunk_records(body, delimiter)
    numbers: list[int] = []
    cells: list[list[str]] = []
    malformed: dict[int, str] = {}
    for index, (line, record) in enumerate(records):
        row = first_row + (index if by_position else line)
        if isinstance(record, str):
            malformed[row] = record
        elif len(record) != width:
            malformed[row] = f"Expected {width} values, found {len(record)}."
        else:
            numbers.append(row)
            cells.append(record)
    if cells:
        columns = {name: list(column) for name, column in zip(names, zip(*cells, strict=True), strict=True)}
    else:  # every record malformed: each is a reject, and the chunk completes with no decision
        columns = {name: [] for name in names}
    return ChunkRows(np.asarray(numbers, dtype=np.int64), columns, malformed)


def _regular_columns(body: str, names: list[str], delimiter: str, first_row: int) -> ChunkRows | None:
    """The common case at C speed: no quotes, no blank line, every line with all its cells.

    The body is split once and each column taken as a stride; None when it is not that
    regular (it is then read line by line).
    """
    body = body.replace("\r\n", "\n")
    if body.endswith("\n"):
        body = body[:-1]
    if not body:
        return None
    lines = body.split("\n")
    width = len(names)
    if width == 1:
        if "" in lines:
            return None  # a blank line
    elif any(line.count(delimiter) != width - 1 for line in lines):
        return None  # a short, long or blank line
    cells = body.replace("\n", delimiter).split(delimiter)
    columns = {name: cells[i::width] for i, name in enumerate(names)}
    return ChunkRows(np.arange(first_row, first_row + len(lines), dtype=np.int64), columns, {})


def _quoted_chunk_records(body: str, delimiter: str) -> Iterator[tuple[int, list[str] | str]]:
    """(line offset, cells or why unreadable) of each non-blank record, by the csv module."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    consumed = 0
    while True:
        try:
            record: list[str] | str = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            record = f"Not valid CSV ({exc})."
        start, consumed = consumed, reader.line_num
        if record:
            yield start, record
