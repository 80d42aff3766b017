"""`make audit` (bin/audit): a known vulnerability fails it, an accepted one with a reason does not,
and a service that cannot be reached is said plainly instead of passing silently.

pip-audit runs for real over this virtualenv; the vulnerability service is a local stand-in
speaking OSV's query API (``AUDIT_OSV_URL``), which reports one made-up advisory on Django.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
AUDIT = ROOT / "bin" / "audit"
ADVISORY = "GHSA-test-0000-0001"


class FakeOsv(BaseHTTPRequestHandler):
    """``POST /v1/query``: one advisory for django (any version), nothing for other packages."""

    asked: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = query["package"]["name"]
        FakeOsv.asked.append(name)
        body: dict[str, Any] = {}
        if name == "django":
            body = {
                "vulns": [
                    {
                        "id": ADVISORY,
                        "summary": "A made-up advisory for this test.",
                        "aliases": ["CVE-2099-0001"],
                        "affected": [
                            {
                                "package": {"name": "django", "ecosystem": "PyPI"},
                                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}],
                            }
                        ],
                    }
                ]
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def osv_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsv)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeOsv.asked = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    server.shutdown()


def audit(*args: str, osv_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(AUDIT), *args],
        env={**os.environ, "AUDIT_OSV_URL": osv_url},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def test_a_known_vulnerability_in_an_installed_package_fails_the_audit(osv_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "ignore.txt"
    empty.write_text("")
    done = audit("--ignore-file", str(empty), osv_url=osv_url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert ADVISORY in done.stdout and "CVE-2099-0001" in done.stdout
    assert {"django", "djangorestframework", "lightgbm", "pip-audit"} <= set(FakeOsv.asked), "every package is asked"


def test_an_accepted_advisory_with_its_reason_passes(osv_url: str, tmp_path: Path) -> None:
    accepted = tmp_path / "ignore.txt"
    accepted.write_text(f"{ADVISORY}  # django: made up for this test, affects nothing\n")
    done = audit("--ignore-file", str(accepted), osv_url=osv_url)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_accepted_advisory_without_a_reason_is_refused(osv_url: str, tmp_path: Path) -> None:
    bare = tmp_path / "ignore.txt"
    bare.write_text(f"{ADVISORY}\n")
    done = audit("--ignore-file", str(bare), osv_url=osv_url)
    assert done.returncode != 0 and "<why>" in done.stderr


def test_an_unreachable_service_fails_plainly_and_only_warns_where_asked_to() -> None:
    closed = "http://127.0.0.1:1/v1/query"
    strict = audit(osv_url=closed)
    assert strict.returncode == 2
    assert "DEPENDENCIES NOT AUDITED" in strict.stderr
    lenient = audit("--if-reachable", osv_url=closed)
    assert lenient.returncode == 0 and "DEPENDENCIES NOT AUDITED" in lenient.stderr


def test_every_committed_exception_names_its_reason() -> None:
    for line in (ROOT / "pip-audit-ignore.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            advisory, _, reason = line.partition("#")
            assert advisory.strip() and len(reason.strip()) >= 10, line
