"""PostgreSQL crashes and restarts under ``/score`` and ``/fraude`` traffic.

While the database is gone every request gets a clean JSON 503 (never a 500, a stack trace
or a hang); every decision that was acknowledged (2xx) is in the database afterwards; and
the same gunicorn workers decide again once it is back, without a restart. Real gunicorn
(persistent connections, ``DB_CONN_MAX_AGE`` as shipped) on a private PostgreSQL cluster
holding a copy of the test database, stopped with ``pg_ctl -m immediate`` (a crash: no
goodbye to clients, WAL replay at the next start).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from creditplatform.api.exceptions import DATABASE_UNAVAILABLE
from tests.faults.servers import (
    FAULT_BOUND_SECONDS,
    Answer,
    PrivatePostgres,
    Traffic,
    copy_database,
    fault_environment,
    gunicorn,
    problems,
    summary,
    worker_pids,
)
from tests.integration.worker import test_database_url as database_url
from tests.services import require_postgresql

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

PER_PHASE = 30


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def refused(answers: list[Answer]) -> int:
    return sum(a.status == 503 for a in answers)


def test_a_database_crash_gives_clean_503s_loses_no_acknowledged_decision_and_heals_without_a_restart(
    tmp_path: Path,
    private_postgres: PrivatePostgres,
    credit_model: object,
    fraud_model: object,
    api_key_for: Callable[..., str],
) -> None:
    require_postgresql()
    key = api_key_for("analyst", ["score", "fraud"])
    copy_database(database_url(), private_postgres, "credit")
    env = fault_environment(tmp_path, DATABASE_URL=private_postgres.url("credit"))
    with gunicorn(env, tmp_path / "gunicorn.log") as server, Traffic(server.url, key) as traffic:
        workers = worker_pids(server)
        traffic.wait_for("before", f"{PER_PHASE} decisions", lambda a: sum(x.ok for x in a) >= PER_PHASE)

        traffic.phase = "stopping"  # requests sent while it stops (or in flight then) may go either way
        private_postgres.stop("immediate")
        traffic.phase = "down"
        traffic.wait_for("down", "10 refusals", lambda a: refused(a) >= 10)
        health = requests.get(f"{server.url}/api/v1/health", timeout=FAULT_BOUND_SECONDS)
        assert health.status_code == 503 and health.json()["status"] == "down"

        traffic.phase = "restarting"
        private_postgres.start()
        traffic.phase = "back"
        traffic.wait_for("back", f"{PER_PHASE} decisions", lambda a: sum(x.ok for x in a) >= PER_PHASE)
        traffic.wait_for("back", "10 decisions in a row", lambda a: len(a) >= 10 and all(x.ok for x in a[-10:]))
        assert requests.get(f"{server.url}/api/v1/health", timeout=FAULT_BOUND_SECONDS).status_code == 200
        assert worker_pids(server) == workers, "no gunicorn worker was restarted"

    print(summary(traffic))
    assert not problems(traffic.answers), "\n".join(problems(traffic.answers)[:20])
    assert all(a.ok for a in traffic.in_phase("before")), "every request is decided while the database is up"
    assert not any(a.ok for a in traffic.in_phase("down")), "nothing pretends to decide without a database"
    refusal = next(a for a in traffic.answers if a.status == 503)
    assert refusal.body == {
        "error": "service_unavailable",
        "detail": DATABASE_UNAVAILABLE,
    }

    scored = {a.body["id"] for a in traffic.answers if a.ok and a.path == "/score"}
    screened = {a.sent["transaction_id"] for a in traffic.answers if a.ok and a.path == "/fraude"}
    stored_decisions = set(private_postgres.psql("credit", "SELECT id FROM scoring_decision").split())
    stored_transactions = set(private_postgres.psql("credit", "SELECT transaction_id FROM fraud_transaction").split())
    assert scored and scored <= stored_decisions, f"acknowledged but lost: {sorted(scored - stored_decisions)[:10]}"
    assert screened and screened <= stored_transactions, (
        f"acknowledged but lost: {sorted(screened - stored_transactions)[:10]}"
    )
