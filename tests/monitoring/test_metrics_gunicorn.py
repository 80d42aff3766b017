"""/metrics under gunicorn with two real workers: one truthful view across them, behind a token."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration import worker
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-the-gunicorn-test-0123"


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextlib.contextmanager
def gunicorn(metrics_dir: Path, workers: int = 2) -> Iterator[str]:
    require_postgresql()
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": worker.test_database_url(),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PROMETHEUS_MULTIPROC_CLEAN": "1",
        "WEB_CONCURRENCY": str(workers),
        "OMP_NUM_THREADS": "1",
        "LOG_LEVEL": "WARNING",
        "API_CALL_LOG_ENABLED": "0",  # its rows would outlive this test in the shared test database
    }
    env.pop("CELERY_BROKER_URL", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
        cwd=worker.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get_quietly(url + "/api/v1/health") is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"gunicorn did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
                )
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _get_quietly(url: str) -> int | None:
    try:
        return _get(url)[0]
    except OSError:
        return None


def _auth_failures(text: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("auth_failures_count_total{")
    )


def _per_worker_failures(metrics_dir: Path) -> dict[str, float]:
    """What each worker process counted, from its own file (what a scrape saw before multiprocess mode)."""
    from prometheus_client.mmap_dict import MmapedDict

    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        counts[path.stem] = sum(value for key, value, *_ in values if '"auth_failures_count"' in key)
    return counts


def test_two_workers_answer_scrapes_with_the_same_totals(tmp_path: Path) -> None:
    with gunicorn(tmp_path) as url:
        # The second worker may still be starting when the first answers: send refused
        # requests, 20 at a time, until both have counted some (each worker its own file).
        sent, deadline = 0, time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while len([n for n in _per_worker_failures(tmp_path).values() if n > 0]) < 2:
                assert time.monotonic() < deadline, f"one worker took every request: {_per_worker_failures(tmp_path)}"
                statuses = list(pool.map(lambda _: _get(url + "/api/v1/clients/")[0], range(20)))
                assert statuses == [401] * 20
                sent += 20
        scrapes = [_get(url + "/metrics", TOKEN) for _ in range(8)]
    assert {status for status, _ in scrapes} == {200}
    # Whichever worker answered, each scrape gives the total of both.
    assert [_auth_failures(text) for _, text in scrapes] == [float(sent)] * 8
    assert sum(_per_worker_failures(tmp_path).values()) == sent


def test_metrics_need_the_bearer_token_whatever_the_address(tmp_path: Path) -> None:
    with gunicorn(tmp_path, workers=1) as url:
        no_token, body = _get(url + "/metrics")
        wrong, _ = _get(url + "/metrics", "not-the-token")
        right, text = _get(url + "/metrics", TOKEN)
    assert (no_token, wrong, right) == (401, 401, 200)
    assert "Bearer" in body
    assert "api_request_latency_seconds" in text


def _http_401s(text: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("django_http_responses_total_by_status_total{") and 'status="401"' in line
    )


def test_batched_request_counts_of_both_workers_reach_the_scrape_within_the_flush_delay(tmp_path: Path) -> None:
    """The HTTP counters are written in batches per worker (METRICS_FLUSH_SECONDS): after
    the delay, a scrape of either worker holds every request both of them answered."""
    with gunicorn(tmp_path) as url:
        sent, deadline = 0, time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            while len([n for n in _per_worker_failures(tmp_path).values() if n > 0]) < 2:
                assert time.monotonic() < deadline, f"one worker took every request: {_per_worker_failures(tmp_path)}"
                assert list(pool.map(lambda _: _get(url + "/api/v1/clients/")[0], range(20))) == [401] * 20
                sent += 20
        time.sleep(2.5)  # the default delay is 1 s; each worker's flusher thread looks every second
        scrapes = [_get(url + "/metrics", TOKEN)[1] for _ in range(6)]
    assert [_http_401s(text) for text in scrapes] == [float(sent)] * 6
