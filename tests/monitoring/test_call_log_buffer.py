"""The API call log outside tests: buffered per process, written in batches by a thread."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from monitoring import calllog
from monitoring.calllog import api_calls_insert, buffer
from monitoring.models import ApiCall

CALL = {
    "request_id": "r1",
    "method": "GET",
    "endpoint": "/x",
    "status_code": 200,
    "latency_ms": 1.0,
    "model_version": "",
    "caller": "",
    "created_at": dt.datetime(2026, 12, 3, 8, 0, 0, 123456, tzinfo=dt.UTC),
}


@pytest.fixture
def buffered(settings: object) -> Iterator[None]:
    settings.API_CALL_LOG_FLUSH_SECONDS = 30  # type: ignore[attr-defined]  # only size or flush() writes
    settings.API_CALL_LOG_BATCH_SIZE = 1000  # type: ignore[attr-defined]
    buffer.flush()
    yield
    buffer.stop()  # nothing leaks into the next test, and no thread keeps a database connection


@pytest.mark.django_db
def test_calls_wait_in_the_buffer_then_land_in_one_write(
    buffered: None, key_client: Callable[..., object], django_assert_num_queries: Callable[..., object]
) -> None:
    api = key_client("viewer", ["read"])
    for _ in range(3):
        assert api.get("/api/v1/clients/").status_code == 200  # type: ignore[attr-defined]

    assert ApiCall.objects.count() == 0
    assert buffer.pending() == 3
    with django_assert_num_queries(1):
        assert buffer.flush() == 3
    assert list(ApiCall.objects.values_list("endpoint", "status_code")) == [("/api/v1/clients/", 200)] * 3


@pytest.mark.django_db(transaction=True)
def test_a_full_batch_is_written_by_the_flusher_thread(
    buffered: None, settings: object, key_client: Callable[..., object]
) -> None:
    settings.API_CALL_LOG_BATCH_SIZE = 2  # type: ignore[attr-defined]
    api = key_client("viewer", ["read"])
    api.get("/api/v1/clients/")  # type: ignore[attr-defined]
    api.get("/api/v1/clients/missing/")  # type: ignore[attr-defined]

    deadline = time.monotonic() + 10
    while ApiCall.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(ApiCall.objects.values_list("status_code", flat=True)) == [200, 404]


@pytest.mark.django_db
def test_a_failed_write_keeps_the_rows_for_the_next_flush(buffered: None, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer.add(CALL)

    def database_down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(calllog, "api_calls_insert", database_down)
        assert buffer.flush() == 0
    assert buffer.pending() == 1
    assert buffer.flush() == 1
    assert ApiCall.objects.get().request_id == "r1"


@pytest.mark.django_db
def test_an_outage_is_logged_once_with_its_traceback_then_once_a_minute(
    buffered: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by review: a database outage logged a full traceback at every flush, once a second."""
    clock = [1000.0]
    monkeypatch.setattr(calllog, "_clock", lambda: clock[0])
    buffer.add(CALL)

    def database_down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database unavailable")

    with monkeypatch.context() as patched, caplog.at_level("WARNING", logger="monitoring.calllog"):
        patched.setattr(calllog, "api_calls_insert", database_down)
        for _ in range(150):  # two and a half minutes of flushes, one a second
            assert buffer.flush() == 0
            clock[0] += 1.0
    records = [r for r in caplog.records if r.name == "monitoring.calllog"]
    # The traceback (as the log filter keeps it, redacted) with the first line only.
    assert [bool(r.exc_text) for r in records] == [True, False, False]
    assert "150 failed flushes" not in records[-1].getMessage()
    assert "121 failed flushes, 1 rows waiting (ConnectionError)" in records[-1].getMessage()
    caplog.clear()
    with caplog.at_level("WARNING", logger="monitoring.calllog"):
        assert buffer.flush() == 1
    assert [r.getMessage() for r in caplog.records] == ["API call log rows written again after 150 failed flushes"]


@pytest.mark.django_db
def test_a_batch_lands_with_the_values_save_would_store() -> None:
    """The one-statement insert (one JSON array on PostgreSQL) against ``save``, column by column."""
    awkward = [
        {**CALL, "request_id": "r2", "caller": "apikey:O'Brien \\ %s %% \u00e9\U0001f600", "latency_ms": 0.1 + 0.2},
        {
            **CALL,
            "request_id": "r3",
            "method": "DELETE",
            "status_code": 599,
            "latency_ms": 5e-324,
            "model_version": "v",
        },
        {
            **CALL,
            "request_id": "r4",
            "endpoint": "/api/v1/clients/<client_id>/",
            "created_at": dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=-11))),
        },
    ]
    api_calls_insert(awkward)
    for row in awkward:
        ApiCall(**{**row, "request_id": "saved-" + str(row["request_id"])}).save()
    fields = [f.attname for f in ApiCall._meta.concrete_fields if not f.primary_key and f.attname != "request_id"]
    for row in awkward:
        batched = ApiCall.objects.values(*fields).get(request_id=row["request_id"])
        saved = ApiCall.objects.values(*fields).get(request_id="saved-" + str(row["request_id"]))
        assert batched == saved
        assert batched["created_at"] == row["created_at"]  # when answered, to the microsecond


@pytest.mark.django_db(transaction=True)
def test_at_exit_the_batch_the_flusher_is_writing_lands_too(
    buffered: None, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stopped gracefully (gunicorn's TERM, ``max_requests``) keeps every row.

    The flusher, a daemon thread, dies with the interpreter: rows it has taken from the
    buffer but not yet written must be waited for at exit, not only those still queued.
    """
    settings.API_CALL_LOG_BATCH_SIZE = 2  # type: ignore[attr-defined]
    insert = calllog.api_calls_insert

    def slow_database(rows: list[dict[str, object]]) -> None:
        if threading.current_thread().name == "api-call-log":
            time.sleep(1.0)  # the flusher's write is still on its way when the process exits
        insert(rows)

    monkeypatch.setattr(calllog, "api_calls_insert", slow_database)
    buffer.add({**CALL, "request_id": "in-flight-1"})
    buffer.add({**CALL, "request_id": "in-flight-2"})
    deadline = time.monotonic() + 10
    while buffer.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert buffer.pending() == 0  # the flusher has taken them
    buffer.add({**CALL, "request_id": "queued"})

    buffer.flush_at_exit()

    assert sorted(ApiCall.objects.values_list("request_id", flat=True)) == ["in-flight-1", "in-flight-2", "queued"]
