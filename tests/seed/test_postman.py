"""The Postman collection (postman/): generated from the OpenAPI document, and green against a real server.

The collection is built by ``postman/build.mjs`` (openapi-to-postmanv2 plus the reviewed
bodies and tests of ``postman/layer.mjs``); the first test rebuilds it from this checkout's
OpenAPI document and requires the committed file to be exactly that. The second starts
gunicorn on a free port against the test database, creates an admin API key with
``create_api_key`` and runs the whole collection with newman: every request and every test
must pass, as ``make postman`` does against ``make run``'s server.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tests.accounts.idp import free_port
from tests.integration import worker
from tests.services import require, require_postgresql

ROOT = Path(__file__).resolve().parents[2]
POSTMAN = ROOT / "postman"
COLLECTION = POSTMAN / "credit-platform.postman_collection.json"
NEWMAN = POSTMAN / "node_modules" / ".bin" / "newman"


def require_postman_tools() -> None:
    require(
        bool(shutil.which("node")) and (POSTMAN / "node_modules" / "openapi-to-postmanv2").is_dir() and NEWMAN.exists(),
        "node and the Postman tools (`make postman-deps`: npm ci in postman/)",
    )


def openapi_document(path: Path) -> Path:
    call_command("spectacular", "--format", "openapi-json", "--file", str(path), stdout=io.StringIO())
    return path


def test_the_committed_collection_is_what_the_openapi_document_and_the_layer_give(tmp_path: Path) -> None:
    require_postman_tools()
    result = subprocess.run(
        ["node", str(POSTMAN / "build.mjs"), str(openapi_document(tmp_path / "openapi.json")), "--check",
         str(COLLECTION)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_collection_covers_every_operation_of_the_api(tmp_path: Path) -> None:
    document = json.loads(openapi_document(tmp_path / "openapi.json").read_text())
    operations = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    collection = json.loads(COLLECTION.read_text())
    requested = set()
    for folder in collection["item"]:
        for item in folder["item"]:
            parts = ["{" + p[1:] + "}" if p.startswith(":") else p for p in item["request"]["url"]["path"]]
            requested.add((item["request"]["method"], "/" + "/".join(parts)))
            assert item["event"][0]["listen"] == "test" and item["event"][0]["script"]["exec"], item["name"]
    assert requested == operations


@pytest.fixture
def live_gunicorn(credit_model: Any, fraud_model: Any) -> Iterator[str]:
    """gunicorn serving the test database (committed rows: the test is transactional)."""
    require_postgresql()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": worker.test_database_url(),
        "OMP_NUM_THREADS": "1",
        "API_CALL_LOG_FLUSH_SECONDS": "0",
    }
    env.pop("CELERY_BROKER_URL", None)  # tasks in-process: nothing left queued for a worker that is not there
    log_path = ROOT / "var" / "test-postman-gunicorn.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "creditplatform.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log_path}")
                try:
                    with urllib.request.urlopen(f"{base_url}/api/v1/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer within 60 s; see {log_path}")
                time.sleep(0.3)
            yield base_url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@pytest.mark.django_db(transaction=True)
def test_newman_runs_the_whole_collection_green_against_a_real_server(live_gunicorn: str, tmp_path: Path) -> None:
    require_postman_tools()
    out = io.StringIO()
    call_command("create_api_key", "postman", "--role", "admin", stdout=out, stderr=io.StringIO())
    api_key = out.getvalue().split()[-1]
    report = tmp_path / "newman.json"
    result = subprocess.run(
        [str(NEWMAN), "run", str(COLLECTION), "--environment", str(POSTMAN / "local.postman_environment.json"),
         "--env-var", f"baseUrl={live_gunicorn}", "--env-var", f"apiKey={api_key}",
         "--reporters", "cli,json", "--reporter-json-export", str(report), "--color", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["requests"]["failed"] == 0 and stats["assertions"]["failed"] == 0
    assert stats["requests"]["total"] >= 25 and stats["assertions"]["total"] >= 90
