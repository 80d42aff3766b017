"""The API call log outside tests: buffered per process, written in batches by a thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from monitoring.calllog import buffer
from monitoring.models import ApiCall


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
    buffer.add(ApiCall(request_id="r1", method="GET", endpoint="/x", status_code=200, latency_ms=1.0))

    def database_down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(ApiCall.objects, "bulk_create", database_down)
        assert buffer.flush() == 0
    assert buffer.pending() == 1
    assert buffer.flush() == 1
    assert ApiCall.objects.get().request_id == "r1"
