"""Batch files: what is refused whole, how a file is cut into chunks, and how a chunk is read back."""

from __future__ import annotations

import io
import random
import time

import numpy as np
import pandas as pd
import pytest

from scoring.batch.files import BatchFileError, SplitFile, pack, read_chunk, split_upload
from scoring.ml.schema import FeatureSchema
from tests.models import TrainedModel


@pytest.fixture(scope="module")
def schema(trained_credit: TrainedModel) -> FeatureSchema:
    return trained_credit.data.schema


def split(data: bytes, schema: FeatureSchema, chunk_rows: int = 1000, name: str = "applicants.csv") -> SplitFile:
    return split_upload(data, name, schema=schema, chunk_rows=chunk_rows, max_rows=10_000)


def rows_of(data: bytes, schema: FeatureSchema, chunk_rows: int = 2) -> list[tuple[int, dict[str, str]]]:
    """Every row the workers would read, with its number, across all chunks."""
    out = []
    parts = split(data, schema, chunk_rows)
    for piece in parts.slices:
        chunk = read_chunk(pack(piece.payload), piece.first_row, by_position=parts.file_format == "parquet")
        for i, row in enumerate(chunk.rows.tolist()):
            out.append((row, {name: cells[i] for name, cells in chunk.columns.items()}))
    return out


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04\x14\x00", "ZIP archive (an Excel workbook?)"),
        (b"\x1f\x8b\x08\x00", "compressed (gzip)"),
        # A legacy Excel workbook (.xls, an OLE2 compound file), still common in back offices.
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003 workbook (.xls)"),
        (b"age,rev\x00enu\n", "binary data"),
        (b"age,revenu,historique_impaye\n", "a header but no applicant rows"),
        (b"age,revenu,historique_impaye\n\n\n", "a header but no applicant rows"),
        (
            b"age,revenue,historique_impaye,nom\n35,1,0,x\n",
            "Unknown columns: revenue, nom. The champion model takes: age",
        ),
        (b"age,revenu\n35,1\n", "Missing required columns: historique_impaye."),
        (b"age,age,revenu,historique_impaye\n1,1,1,1\n", "Duplicate columns: age."),
        (b"age,,revenu,historique_impaye\n1,1,1,1\n", "Column 2 of the header has no name."),
        (b"age;revenu,historique_impaye\n1;1,1\n", "mixes separators"),
        (b"age,revenu,historique_impaye\n35,1,0\n\xe9t\xe9,1,0\n", "not UTF-8 text (line 3)"),
        # Excel's "Unicode Text" and other UTF-16 exports: named as such, not as "binary data".
        ("age\trevenu\thistorique_impaye\r\n35\t1\t0\r\n".encode("utf-16"), "The file is UTF-16 text"),
        ("age,revenu,historique_impaye\n35,1,0\n".encode("utf-16-be"), "The file is UTF-16 text"),
        ("age,revenu,historique_impaye\n35,1,0\n".encode("utf-16-le"), "The file is UTF-16 text"),
        ("age,revenu,historique_impaye\n35,1,0\n".encode("utf-32"), "The file is UTF-32 text"),
    ],
)
def test_a_file_that_cannot_be_scored_at_all_is_refused_whole_with_the_reason(
    data: bytes, message: str, schema: FeatureSchema
) -> None:
    with pytest.raises(BatchFileError) as refused:
        split(data, schema)
    assert message in str(refused.value)


def test_a_file_named_parquet_that_is_not_parquet_is_refused(schema: FeatureSchema) -> None:
    with pytest.raises(BatchFileError, match="not a Parquet file"):
        split(b"age,revenu,historique_impaye\n35,1,0\n", schema, name="portfolio.parquet")


def test_more_rows_than_the_limit_are_refused(schema: FeatureSchema) -> None:
    data = b"age,revenu,historique_impaye\n" + b"35,1,0\n" * 11
    with pytest.raises(BatchFileError, match="11 rows; at most 10 are taken"):
        split_upload(data, "a.csv", schema=schema, chunk_rows=5, max_rows=10)


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "with quotes"])
def test_more_lines_than_twice_the_row_limit_are_refused_before_they_are_read(
    schema: FeatureSchema, quoted: bool
) -> None:
    """Blank lines are skipped, but not read for free: 128 MB of them took 5 GB of memory and half a
    minute to find no row (a 502 when the worker is killed). Lines are counted first, in C."""
    row = b'35,"1",0\n' if quoted else b"35,1,0\n"
    header = b"age,revenu,historique_impaye\n"
    fits = header + row + b"\n" * 18 + row  # 20 lines after the header: twice the 10 rows allowed
    assert split_upload(fits, "a.csv", schema=schema, chunk_rows=5, max_rows=10).total_rows == 2
    with pytest.raises(
        BatchFileError, match=r"21 lines after its header; at most 10 rows are taken per file, in 20 lines"
    ):
        split_upload(header + row + b"\n" * 19 + row.rstrip(b"\n"), "a.csv", schema=schema, chunk_rows=5, max_rows=10)


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_comma_semicolon_and_tab_separated_files_with_a_bom_are_read_alike(
    separator: str, schema: FeatureSchema
) -> None:
    text = "\n".join(separator.join(cells) for cells in [["age", "revenu", "historique_impaye"], ["35", "50000", "1"]])
    assert rows_of(b"\xef\xbb\xbf" + text.encode(), schema) == [
        (2, {"age": "35", "revenu": "50000", "historique_impaye": "1"})
    ]


def test_rows_are_numbered_by_their_line_in_the_file_blank_lines_and_crlf_included(schema: FeatureSchema) -> None:
    data = b"age,revenu,historique_impaye\r\n35,1,0\r\n\r\n36,2,1\n\n\n37,3,0\n38,4,1"
    assert [row for row, _ in rows_of(data, schema)] == [2, 4, 7, 8]
    parts = split(data, schema, chunk_rows=2)
    assert [(s.first_row, s.last_row, s.rows) for s in parts.slices] == [(2, 4, 2), (7, 8, 2)]


def test_lines_ended_by_a_carriage_return_alone_are_refused_in_plain_words(schema: FeatureSchema) -> None:
    with pytest.raises(BatchFileError, match=r"carriage return alone \(old Mac style\); save it with LF or CRLF"):
        split(b"age,revenu,historique_impaye\r35,1,0\r36,2,1\r", schema)


def test_quoted_values_hold_separators_and_the_rows_keep_their_line_numbers(schema: FeatureSchema) -> None:
    data = b'age,revenu,historique_impaye,home\n35,1,0,"rent"\n36,2,1,"ow,ner"\n\n38,"4",1,priv\n'
    rows = rows_of(data, schema, chunk_rows=1)
    assert [row for row, _ in rows] == [2, 3, 5]
    assert rows[1][1]["home"] == "ow,ner"
    assert rows[2][1]["revenu"] == "4"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        # A stray opening quote: every applicant after it would be read as part of one value.
        ({6: '"40,2000,1'}, "Line 6: the quoted value of column age runs on to line 101"),
        ({6: '40,"2000,1', 51: '40,2000",1'}, "Line 6: the quoted value of column revenu runs on to line 51"),
        ({3: '36,2,1,"ow', 4: 'ner"'}, "Line 3: the quoted value of column home runs on to line 4"),
    ],
)
def test_a_quoted_value_running_over_lines_refuses_the_file_instead_of_swallowing_its_rows(
    schema: FeatureSchema, lines: dict[int, str], message: str
) -> None:
    """No column takes a line break: a quote left open must not make the rows after it vanish,
    neither scored nor rejected (a 100-row file became a 5-row job)."""
    text = ["age,revenu,historique_impaye,home"] + ["35,1000,0,rent"] * 100
    for number, line in lines.items():
        text[number - 1] = line
    with pytest.raises(BatchFileError) as refused:
        split(("\n".join(text) + "\n").encode(), schema)
    assert message in str(refused.value)
    assert "a quote not closed" in str(refused.value)


def test_a_row_with_too_many_or_too_few_values_is_malformed_and_its_neighbours_are_read(
    schema: FeatureSchema,
) -> None:
    data = b"age,revenu,historique_impaye\n35,1,0\n36,2\n37,3,0,9\n38,4,1\n"
    parts = split(data, schema, chunk_rows=10)
    piece = parts.slices[0]
    chunk = read_chunk(pack(piece.payload), piece.first_row, by_position=False)
    assert chunk.rows.tolist() == [2, 5]
    assert chunk.malformed == {3: "Expected 3 values, found 2.", 4: "Expected 3 values, found 4."}


@pytest.mark.parametrize(
    ("body", "malformed"),
    [
        (b"35,1,0,9,9\n35\n", {2: "Expected 3 values, found 5.", 3: "Expected 3 values, found 1."}),
        (b'35,"1,0,9\n', {2: "Expected 3 values, found 2."}),  # a quote left open on the last line
    ],
)
def test_a_chunk_with_no_row_to_read_has_only_malformed_rows(
    schema: FeatureSchema, body: bytes, malformed: dict[int, str]
) -> None:
    parts = split(b"age,revenu,historique_impaye\n" + body, schema)
    piece = parts.slices[0]
    chunk = read_chunk(pack(piece.payload), piece.first_row, by_position=False)
    assert chunk.rows.tolist() == [] and chunk.malformed == malformed
    assert chunk.columns == {"age": [], "revenu": [], "historique_impaye": []}


def test_the_fast_reading_of_regular_chunks_reads_exactly_what_the_csv_module_reads(schema: FeatureSchema) -> None:
    rng = random.Random(5)
    lines = ["age,revenu,historique_impaye,home"]
    for i in range(400):
        cells = [str(rng.randint(15, 90)), str(rng.randint(0, 900)), str(rng.randint(0, 3)), rng.choice(["rent", ""])]
        if i % 97 == 0:
            cells = cells[:2]  # irregular lines send chunks down the careful path
        lines.append(",".join(cells) + ("\r" if i % 3 == 0 else ""))
        if i % 131 == 0:
            lines.append("")
    text = "\n".join(lines) + "\n"
    fast = rows_of(text.encode(), schema, chunk_rows=50)
    import csv

    expected = []
    for number, record in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if number > 1 and len(record) == 4:
            expected.append((number, dict(zip(lines[0].split(","), record, strict=True))))
    assert fast == expected


def test_a_parquet_file_is_numbered_by_position_and_its_missing_numbers_are_missing(
    schema: FeatureSchema, tmp_path: object
) -> None:
    frame = pd.DataFrame(
        {
            "age": pd.array([35, 40, None], dtype="Int64"),
            "revenu": [1.5, np.nan, 3.0],
            "historique_impaye": [0, 1, 2],
            "home": pd.Categorical(["rent", None, "owner"]),
            "client_id": [1001, 1002, 1003],
        }
    )
    out = io.BytesIO()
    frame.to_parquet(out)
    rows = rows_of(out.getvalue(), schema, chunk_rows=2)
    assert rows == [
        (1, {"age": "35", "revenu": "1.5", "historique_impaye": "0", "home": "rent", "client_id": "1001"}),
        (2, {"age": "40", "revenu": "", "historique_impaye": "1", "home": "", "client_id": "1002"}),
        (3, {"age": "", "revenu": "3", "historique_impaye": "2", "home": "owner", "client_id": "1003"}),
    ]


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("historique_impaye", [True, False], "Column historique_impaye is of type bool; it should hold numbers."),
        ("home", [1, 2], "Column home is of type int64; it should hold text (a category)."),
    ],
)
def test_a_parquet_column_of_the_wrong_type_is_refused_naming_it(
    column: str, values: list[object], message: str, schema: FeatureSchema
) -> None:
    frame = pd.DataFrame({"age": [35, 36], "revenu": [1.0, 2.0], "historique_impaye": [0, 1]})
    frame[column] = values
    out = io.BytesIO()
    frame.to_parquet(out)
    with pytest.raises(BatchFileError) as refused:
        split(out.getvalue(), schema)
    assert str(refused.value) == message


def test_a_truncated_parquet_file_is_refused(schema: FeatureSchema) -> None:
    out = io.BytesIO()
    pd.DataFrame({"age": [35], "revenu": [1.0], "historique_impaye": [0]}).to_parquet(out)
    with pytest.raises(BatchFileError, match="not a readable Parquet file"):
        split(out.getvalue()[:40], schema)


def test_a_header_of_tens_of_thousands_of_columns_is_refused_at_once(schema: FeatureSchema) -> None:
    """A transposed sheet or a wrong export: 60,000 names (a 500 KB header line) were compared with one
    another, in quadratic time (over a minute of a web worker's CPU, past gunicorn's timeout: a 502
    instead of the 400). The header is checked in linear time, the answer names the duplicates."""
    names = [f"applicant_{i}" for i in range(60_000)] + ["applicant_7", "applicant_9"]
    started = time.perf_counter()
    with pytest.raises(BatchFileError, match="Duplicate columns: applicant_7, applicant_9."):
        split((",".join(names) + "\n35\n").encode(), schema)
    assert time.perf_counter() - started < 5
