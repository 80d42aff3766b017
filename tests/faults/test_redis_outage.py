"""Redis stopped, then hung, under ``/score`` and ``/fraude`` traffic: decisions go on, nothing hangs.

Redis holds the cache (the per-caller throttle counters, the shared JWKS copy) and the
Celery broker. Neither is needed to decide: the throttle lets requests through while its
counters are unreachable (docs/security.md, "Faults"), and every Redis call is bounded by
a one-second socket timeout. Real gunicorn, a private ``redis-server`` the test stops,
freezes (SIGSTOP) and brings back, the test database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from fraud.models import Transaction
from scoring.models import Decision
from tests.faults.servers import (
    FAULT_BOUND_SECONDS,
    Answer,
    Traffic,
    fault_environment,
    gunicorn,
    private_redis,
    problems,
    summary,
    wait_until,
    worker_pids,
)
from tests.integration.worker import test_database_url as database_url
from tests.services import require_postgresql

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

PER_PHASE = 30  # answers gathered in each phase


def decided(answers: list[Answer]) -> int:
    return sum(a.ok for a in answers)


def throttle_keys(redis_client: object) -> list[bytes]:
    return list(redis_client.scan_iter(match="*throttle*"))  # type: ignore[attr-defined]


def test_decisions_go_on_while_redis_is_down_or_hung_and_redis_is_used_again_when_it_returns(
    tmp_path: Path, credit_model: object, fraud_model: object, api_key_for: Callable[..., str]
) -> None:
    require_postgresql()
    key = api_key_for("analyst", ["score", "fraud"])
    with private_redis(tmp_path) as redis_server:
        env = fault_environment(
            tmp_path,
            DATABASE_URL=database_url(),
            REDIS_URL=redis_server.url(0),
            CELERY_BROKER_URL=redis_server.url(1),
        )
        cache = redis_server.client(0)
        with gunicorn(env, tmp_path / "gunicorn.log") as server, Traffic(server.url, key) as traffic:
            workers = worker_pids(server)
            traffic.wait_for("before", f"{PER_PHASE} decisions", lambda a: decided(a) >= PER_PHASE)
            assert throttle_keys(cache), "the throttle counts in Redis while it is up"

            # Redis stops: connections refused at once.
            redis_server.stop()
            traffic.phase = "stopped"
            traffic.wait_for("stopped", f"{PER_PHASE} answers", lambda a: len(a) >= PER_PHASE)
            health = requests.get(f"{server.url}/api/v1/health", timeout=FAULT_BOUND_SECONDS)
            assert health.status_code == 200, "the platform still decides: not a reason to leave the load balancer"
            assert health.json()["status"] == "degraded"
            assert health.json()["checks"]["cache"]["status"] == "down"

            # Redis comes back, then hangs: connections accepted, nothing ever answered.
            redis_server.start()
            cache = redis_server.client(0)
            wait_until(lambda: bool(throttle_keys(cache)), "the throttle to use the restarted Redis")
            redis_server.freeze()
            traffic.phase = "hung"
            traffic.wait_for("hung", f"{PER_PHASE} answers", lambda a: len(a) >= PER_PHASE)
            health = requests.get(f"{server.url}/api/v1/health", timeout=FAULT_BOUND_SECONDS)
            assert health.status_code == 200 and health.json()["checks"]["cache"]["status"] == "down"

            # Redis answers again: used again without any restart.
            redis_server.thaw()
            cache.flushdb()
            traffic.phase = "back"
            wait_until(lambda: bool(throttle_keys(cache)), "the throttle to count in Redis again")
            traffic.wait_for("back", f"{PER_PHASE} decisions", lambda a: decided(a) >= PER_PHASE)
            wait_until(
                lambda: (
                    requests.get(f"{server.url}/api/v1/health", timeout=FAULT_BOUND_SECONDS).json()["status"] == "ok"
                ),
                "health to be ok again",
            )
            assert worker_pids(server) == workers, "no gunicorn worker was restarted"

    print(summary(traffic))
    answers = traffic.answers
    assert not problems(answers), "\n".join(problems(answers)[:20])
    for phase in ("stopped", "hung"):
        phase_answers = traffic.in_phase(phase)
        assert decided(phase_answers) == len(phase_answers), f"every request was decided while Redis was {phase}"
    scored = {a.body["id"] for a in answers if a.ok and a.path == "/score"}
    screened = {a.sent["transaction_id"] for a in answers if a.ok and a.path == "/fraude"}
    assert set(map(str, Decision.objects.filter(id__in=scored).values_list("id", flat=True))) == scored
    assert set(Transaction.objects.filter(transaction_id__in=screened).values_list("transaction_id", flat=True)) == (
        screened
    )
