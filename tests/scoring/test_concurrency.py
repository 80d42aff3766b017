"""Real concurrency on PostgreSQL: a model swap under load, and retries racing each other."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from scoring.ml.schema import FeatureSchema
from scoring.models import Decision
from scoring.services import model_version_activate
from tests.models import TrainedModel, credit_training, register_trained
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

APPLICANTS = [
    {"age": 20 + i % 50, "revenu": 60 + 13 * i, "historique_impaye": i % 3, "job": ("fixed", "partime")[i % 2]}
    for i in range(40)
]


@pytest.fixture(scope="module")
def other_credit() -> TrainedModel:
    """A second, different credit model (another seed and costs)."""
    return credit_training(seed=7, cost_fn=5)


def test_a_model_swap_while_requests_run_gives_no_error_and_no_mixed_versions(
    live_server: Any,
    settings: Any,
    api_key_for: Callable[..., str],
    trained_credit: TrainedModel,
    other_credit: TrainedModel,
) -> None:
    require_postgresql()
    settings.MODEL_REFRESH_SECONDS = 0  # every request asks the registry: the harshest case
    v1 = register_trained(trained_credit, version="v1", status="champion")
    v2 = register_trained(other_credit, version="v2")
    boosters = {"v1": (trained_credit, v1.threshold), "v2": (other_credit, v2.threshold)}
    key = api_key_for("analyst", ["score"])
    swapped = threading.Event()
    results: list[tuple[int, dict[str, Any], dict[str, Any]]] = []

    def client(worker: int) -> None:
        with requests.Session() as session:
            for n in range(30):
                applicant = APPLICANTS[(worker * 7 + n) % len(APPLICANTS)]
                response = session.post(
                    f"{live_server.url}/score", json=applicant, headers={"X-API-Key": key}, timeout=30
                )
                results.append((response.status_code, applicant, response.json()))
                if worker == 0 and n == 10:
                    swapped.set()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    swapped.wait(timeout=60)
    model_version_activate(model_version=v2, status="champion")
    model_version_activate(model_version=v1, status="champion")
    model_version_activate(model_version=v2, status="champion")
    for thread in threads:
        thread.join(timeout=120)

    assert [status for status, _, _ in results] == [201] * 120
    seen = set()
    for _, applicant, body in results:
        trained, threshold = boosters[body["model_version"]]
        seen.add(body["model_version"])
        row = FeatureSchema.from_list(trained.data.schema.to_list()).row(applicant)[None, :]
        # Everything in one answer comes from the version it names.
        assert body["probability_default"] == pytest.approx(float(trained.result.booster.predict(row)[0]), abs=1e-12)
        assert body["threshold_used"] == threshold
    assert seen == {"v1", "v2"}
    after = requests.post(f"{live_server.url}/score", json=APPLICANTS[0], headers={"X-API-Key": key}, timeout=30)
    assert after.json()["model_version"] == "v2"
    assert Decision.objects.count() == 121


def test_concurrent_retries_with_one_idempotency_key_make_one_decision(
    live_server: Any, api_key_for: Callable[..., str], trained_credit: TrainedModel
) -> None:
    require_postgresql()
    register_trained(trained_credit, version="v1", status="champion")
    key = api_key_for("analyst", ["score"])
    barrier = threading.Barrier(8)

    def send(n: int) -> tuple[int, dict[str, Any]]:
        barrier.wait(timeout=30)
        response = requests.post(
            f"{live_server.url}/score",
            json=APPLICANTS[0],
            headers={"X-API-Key": key, "Idempotency-Key": "loan-2026-0001"},
            timeout=30,
        )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, range(8)))
    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert len({body["id"] for _, body in answers}) == 1
    assert Decision.objects.count() == 1


def test_concurrent_retries_of_a_batch_with_one_idempotency_key_decide_it_once(
    live_server: Any, api_key_for: Callable[..., str], trained_credit: TrainedModel
) -> None:
    require_postgresql()
    register_trained(trained_credit, version="v1", status="champion")
    key = api_key_for("analyst", ["score"])
    barrier = threading.Barrier(6)
    items = APPLICANTS[:20]

    def send(n: int) -> tuple[int, dict[str, Any]]:
        barrier.wait(timeout=30)
        response = requests.post(
            f"{live_server.url}/api/v1/score/batch",
            json={"items": items},
            headers={"X-API-Key": key, "Idempotency-Key": "nightly-2026-12-07"},
            timeout=60,
        )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, range(6)))
    assert sorted(status for status, _ in answers) == [200] * 5 + [201]
    assert len({tuple(d["id"] for d in body["results"]) for _, body in answers}) == 1
    assert Decision.objects.count() == 20
