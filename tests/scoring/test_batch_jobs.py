"""Batch jobs through the services and the API: stored decisions, rejects, ownership, reliability.

Tasks run in-process here (the embedded default); ``tests/integration/test_batch_worker.py``
runs the same jobs on real workers, killed and poisoned.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from scoring.batch.files import pack
from scoring.batch.services import (
    batch_chunk_score,
    batch_job_retry_dead_letters,
    batch_job_submit,
    batch_jobs_reconcile,
)
from scoring.choices import ApplicationStatus, BatchChunkStatus, BatchJobStatus
from scoring.models import BatchChunk, BatchJob, Client, Decision, ModelVersion
from scoring.services import model_version_activate
from tests.factories import ClientFactory, CreditApplicationFactory, batch_caller
from tests.models import TrainedModel, register_trained
from tests.scoring.batchfiles import applicants_csv, replace_lines
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db

SEED_FILE = "age,revenu,historique_impaye\n35,50000,1\n52,180,0\n"


def submit(text: str, caller: str | None = None, chunk_rows: int | None = None) -> BatchJob:
    caller = caller or batch_caller()
    job = batch_job_submit(data=text.encode(), filename="f.csv", caller=caller, source="api", chunk_rows=chunk_rows)
    job.refresh_from_db()
    return job


def scored(text: str, capture: Any, **kwargs: Any) -> BatchJob:
    """A job whose tasks ran: in a test's transaction they wait for the commit, so run them here."""
    with capture(execute=True):
        job = batch_job_submit(
            data=text.encode(), filename="portfolio.csv", caller=batch_caller(), source="api", **kwargs
        )
    job.refresh_from_db()
    return job


@pytest.fixture
def scorer(key_client: Callable[..., APIClient], credit_model: ModelVersion) -> APIClient:
    return key_client("analyst", ["score", "read"])


def upload(api: APIClient, text: str | bytes, name: str = "applicants.csv") -> Any:
    content = text.encode() if isinstance(text, str) else text
    return api.post("/api/v1/score/batch-jobs", {"file": SimpleUploadedFile(name, content)}, format="multipart")


def read_csv(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- Services --------------------------------------------------------------------------------


def test_every_valid_row_becomes_a_stored_decision_and_every_bad_row_a_reject_with_its_line(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    text = replace_lines(applicants_csv(120, seed=5), {5: "16,100,0", 9: "30,abc,0", 12: "30,100"})
    job = scored(text, django_capture_on_commit_callbacks, chunk_rows=50)
    assert (job.status, job.total_rows, job.chunk_count) == (BatchJobStatus.COMPLETED, 120, 3)
    assert (job.rows_scored, job.rows_rejected) == (117, 3)
    decisions = Decision.objects.filter(batch_job=job)
    assert decisions.count() == 117
    assert set(decisions.values_list("batch_row", flat=True)) == set(range(2, 122)) - {5, 9, 12}
    assert set(decisions.values_list("model_version", flat=True)) == {credit_model.pk}
    assert set(decisions.values_list("caller", flat=True)) == {batch_caller()}
    assert dict(job.rejects.values_list("row", "errors")) == {
        5: {"age": "Ensure this value is greater than or equal to 17."},
        9: {"revenu": "A valid number is required."},
        12: {"row": "Expected 3 values, found 2."},
    }


@pytest.mark.parametrize(
    ("text", "rejects"),
    [
        (
            "age,revenu,historique_impaye\n35,50000,1,9,9\n35\n",
            {2: {"row": "Expected 3 values, found 5."}, 3: {"row": "Expected 3 values, found 1."}},
        ),
        ('age,revenu,historique_impaye\n35,"50000,1\n', {2: {"row": "Expected 3 values, found 2."}}),
    ],
)
def test_a_chunk_whose_rows_are_all_malformed_completes_with_each_row_rejected(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any, text: str, rejects: dict[int, Any]
) -> None:
    """Not a chunk failing three times into the dead letter: its rows are rejects, like any bad row."""
    job = scored(text, django_capture_on_commit_callbacks)
    assert (job.status, job.rows_scored, job.rows_rejected) == (BatchJobStatus.COMPLETED, 0, len(rejects))
    assert dict(job.rejects.values_list("row", "errors")) == rejects
    assert not Decision.objects.filter(batch_job=job).exists()


def test_a_batch_decision_is_the_decision_score_gives_the_same_applicant(
    scorer: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    applicant = {"age": 23, "revenu": 60, "historique_impaye": 2, "job": "partime", "seniority_years": 0}
    job = scored(
        "age,revenu,historique_impaye,job,seniority_years\n23,60,2,partime,0\n", django_capture_on_commit_callbacks
    )
    live = scorer.post("/score", applicant, format="json").json()
    listed = scorer.get(f"/api/v1/predictions/?batch_job={job.pk}").json()
    assert listed["count"] == 1
    batch = scorer.get(f"/api/v1/predictions/{listed['results'][0]['id']}/").json()
    assert batch["probability_default"] == pytest.approx(live["probability_default"], abs=1e-12)
    assert (batch["decision"], batch["risk_level"]) == (live["decision"], live["risk_level"])
    assert batch["reasons"] == live["reasons"]
    assert batch["features"] == applicant
    assert (batch["batch_job"], batch["batch_row"]) == (str(job.pk), 2)


def test_client_and_application_ids_link_decisions_as_score_links_them(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    known = ClientFactory(client_id="C1001")
    application = CreditApplicationFactory(client=known, application_id="APP-1")
    other = CreditApplicationFactory(client=ClientFactory(client_id="C2002"), application_id="APP-2")
    text = (
        "age,revenu,historique_impaye,client_id,application_id\n"
        "35,100,0,C1001,APP-1\n"  # known client and its application: decided
        "36,100,0,C9999,\n"  # unknown client: created
        "37,100,0,C1001,APP-2\n"  # another client's application: rejected
        "38,100,0,,APP-404\n"  # unknown application: rejected
        "39,100,0,,\n"
    )
    job = scored(text, django_capture_on_commit_callbacks)
    rows = {d.batch_row: d for d in Decision.objects.filter(batch_job=job).select_related("client", "application")}
    assert sorted(rows) == [2, 3, 6]
    assert (rows[2].client, rows[2].application) == (known, application)
    assert rows[3].client == Client.objects.get(client_id="C9999")
    assert rows[6].client is None
    assert dict(job.rejects.values_list("row", "errors")) == {
        4: {"application_id": "This application belongs to another client."},
        5: {"application_id": "Unknown application."},
    }
    application.refresh_from_db()
    other.refresh_from_db()
    assert (application.status, other.status) == (ApplicationStatus.DECIDED, ApplicationStatus.RECEIVED)


def test_a_chunk_whose_insert_fails_leaves_no_client_behind_between_attempts_or_once_dead(
    credit_model: ModelVersion, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The new clients a chunk names are stored with its decisions or not at all."""
    require_postgresql()  # the refusal below is PostgreSQL's CHECK ... NOT VALID
    settings.BATCH_CHUNK_MAX_ATTEMPTS = 2
    ClientFactory(client_id="KNOWN1")
    text = "age,revenu,historique_impaye,client_id\n35,100,0,NEW2\n36,100,0,KNOWN1\n37,100,0,NEW1\n38,100,0,NEW2\n"
    with django_capture_on_commit_callbacks(execute=False):
        job = submit(text)
    chunk = BatchChunk.objects.get(job=job)
    with connection.cursor() as cursor:  # the database refuses every new decision (rolled back with the test)
        cursor.execute("ALTER TABLE scoring_decision ADD CONSTRAINT test_refuse_all CHECK (false) NOT VALID")
    assert batch_chunk_score(chunk_id=chunk.pk).status == "failed"  # to be retried
    assert list(Client.objects.values_list("client_id", flat=True)) == ["KNOWN1"]
    assert batch_chunk_score(chunk_id=chunk.pk).status == "dead"  # for good
    job.refresh_from_db()
    assert (job.status, job.chunks_dead, job.rows_scored) == (BatchJobStatus.FAILED, 1, 0)
    assert "test_refuse_all" in BatchChunk.objects.get(pk=chunk.pk).last_error
    assert not Decision.objects.exists()
    assert list(Client.objects.values_list("client_id", flat=True)) == ["KNOWN1"]


def test_the_chunk_tasks_leave_only_once_the_job_is_committed(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = batch_job_submit(data=SEED_FILE.encode(), filename="f.csv", caller=batch_caller(), source="api")
        assert BatchChunk.objects.get(job=job).status == BatchChunkStatus.PENDING
    assert len(callbacks) == 1 and not Decision.objects.filter(batch_job=job).exists()
    callbacks[0]()
    job.refresh_from_db()
    assert job.status == BatchJobStatus.COMPLETED and job.rows_scored == 2


def test_a_chunk_delivered_twice_is_scored_once(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    job = scored(SEED_FILE, django_capture_on_commit_callbacks)
    chunk = BatchChunk.objects.get(job=job)
    assert batch_chunk_score(chunk_id=chunk.pk).status == "skipped"  # e.g. redelivered after a lost ack
    job.refresh_from_db()
    assert (job.rows_scored, Decision.objects.filter(batch_job=job).count(), job.chunks_done) == (2, 2, 1)


def test_a_chunk_left_running_by_a_lost_worker_is_taken_over_and_counted_as_a_retry(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = submit(SEED_FILE)
    chunk = BatchChunk.objects.get(job=job)
    BatchChunk.objects.filter(pk=chunk.pk).update(status=BatchChunkStatus.RUNNING, attempts=1)  # its worker died
    assert batch_chunk_score(chunk_id=chunk.pk).status == "done"
    job.refresh_from_db()
    chunk.refresh_from_db()
    assert (chunk.attempts, job.chunk_retries, job.rows_scored, job.status) == (2, 1, 2, BatchJobStatus.COMPLETED)


def test_a_chunk_whose_workers_kept_dying_is_dead_lettered_without_running_again(
    credit_model: ModelVersion, settings: Any, django_capture_on_commit_callbacks: Any, scorer: APIClient
) -> None:
    settings.BATCH_CHUNK_MAX_ATTEMPTS = 3
    with django_capture_on_commit_callbacks(execute=False):
        job = batch_job_submit(data=SEED_FILE.encode(), filename="f.csv", caller=batch_caller(), source="api")
    chunk = BatchChunk.objects.get(job=job)
    BatchChunk.objects.filter(pk=chunk.pk).update(status=BatchChunkStatus.RUNNING, attempts=3)  # killed 3 times
    assert batch_chunk_score(chunk_id=chunk.pk).status == "dead"
    job.refresh_from_db()
    chunk.refresh_from_db()
    assert (job.status, job.chunks_dead, job.rows_scored) == (BatchJobStatus.FAILED, 1, 0)
    assert chunk.status == BatchChunkStatus.DEAD and "the worker was lost each time" in chunk.last_error
    assert not Decision.objects.filter(batch_job=job).exists()


def test_a_chunk_that_keeps_failing_is_retried_then_dead_lettered_and_shown_on_its_job(
    credit_model: ModelVersion, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.BATCH_CHUNK_MAX_ATTEMPTS = 3
    settings.BATCH_RETRY_BACKOFF_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        job = submit(applicants_csv(30, seed=6), chunk_rows=10)
        BatchChunk.objects.filter(job=job, number=1).update(payload=pack(b"\xff\xfe"))  # not UTF-8
    job.refresh_from_db()
    dead = BatchChunk.objects.get(job=job, number=1)
    assert (job.status, job.chunks_done, job.chunks_dead, job.rows_scored) == (BatchJobStatus.PARTIAL, 2, 1, 20)
    assert (dead.status, dead.attempts) == (BatchChunkStatus.DEAD, 3)
    assert dead.last_error.startswith("UnicodeDecodeError")
    assert job.chunk_retries == 2

    # Once the cause is fixed, an admin gives it a fresh set of attempts.
    BatchChunk.objects.filter(pk=dead.pk).update(payload=pack(applicants_csv(10, seed=7).encode()))
    with django_capture_on_commit_callbacks(execute=True):
        assert batch_job_retry_dead_letters(job=job) == 1
    job.refresh_from_db()
    assert (job.status, job.chunks_dead, job.rows_scored) == (BatchJobStatus.COMPLETED, 0, 30)


def test_retrying_dead_lettered_chunks_from_the_admin_is_in_the_audit_trail(
    credit_model: ModelVersion,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    client_as: Callable[[str | None], APIClient],
) -> None:
    """A retry decides the chunks' applicants: who asked for it is in the trail, not only in
    the admin's log."""
    from audit.models import AuditEvent

    settings.BATCH_CHUNK_MAX_ATTEMPTS = 1
    with django_capture_on_commit_callbacks(execute=True):
        job = submit(applicants_csv(20, seed=9), chunk_rows=10)
        BatchChunk.objects.filter(job=job, number=1).update(payload=pack(b"\xff\xfe"))  # not UTF-8
    BatchChunk.objects.filter(job=job, number=1).update(payload=pack(applicants_csv(10, seed=10).encode()))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as("admin").post(
            "/admin/scoring/batchjob/",
            {"action": "retry_dead_letters", "_selected_action": [str(job.pk)]},
            format="multipart",
        )
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.chunks_dead, job.rows_scored) == (BatchJobStatus.COMPLETED, 0, 20)
    event = AuditEvent.objects.get(action="batch.dead_letters.retried")
    assert (event.actor_name, event.target_id, event.details) == ("admin-user", str(job.pk), {"chunks": 1})


def test_the_reconciler_sends_chunks_never_sent_or_abandoned_and_leaves_live_ones(
    credit_model: ModelVersion, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = submit(applicants_csv(30, seed=8), chunk_rows=10)
    first, second, third = BatchChunk.objects.filter(job=job).order_by("number")
    now = timezone.now()
    BatchChunk.objects.filter(pk=first.pk).update(enqueued_at=None)  # the broker was down at commit
    BatchChunk.objects.filter(pk=second.pk).update(  # its worker vanished long ago
        status=BatchChunkStatus.RUNNING,
        attempts=1,
        claimed_at=now - timedelta(seconds=settings.BATCH_CHUNK_STALE_SECONDS + 5),
    )
    BatchChunk.objects.filter(pk=third.pk).update(status=BatchChunkStatus.RUNNING, attempts=1, claimed_at=now)  # live
    with django_capture_on_commit_callbacks(execute=True):
        result = batch_jobs_reconcile(now=now)
    assert result.requeued == 2
    statuses = dict(BatchChunk.objects.filter(job=job).values_list("number", "status"))
    assert statuses == {0: BatchChunkStatus.DONE, 1: BatchChunkStatus.DONE, 2: BatchChunkStatus.RUNNING}


def test_chunks_the_broker_refused_are_left_for_the_reconciler(
    credit_model: ModelVersion, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from kombu.exceptions import OperationalError

    from scoring import tasks

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.batch_chunk_score, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        job = submit(SEED_FILE)  # the job is stored: the upload is not lost
    chunk = BatchChunk.objects.get(job=job)
    assert (chunk.status, chunk.enqueued_at) == (BatchChunkStatus.PENDING, None)
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert batch_jobs_reconcile().requeued == 1
    job.refresh_from_db()
    assert job.status == BatchJobStatus.COMPLETED


def test_a_job_is_scored_to_the_end_by_the_model_it_started_with(
    credit_model: ModelVersion, trained_credit: TrainedModel, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = submit(applicants_csv(20, seed=9), chunk_rows=10)
    newer = register_trained(trained_credit, version="credit-newer", threshold=0.5)
    model_version_activate(model_version=newer, status="champion")
    for callback in callbacks:
        callback()
    assert set(Decision.objects.filter(batch_job=job).values_list("model_version", flat=True)) == {credit_model.pk}
    assert set(Decision.objects.filter(batch_job=job).values_list("threshold_used", flat=True)) == {
        credit_model.threshold
    }


def test_a_challenger_scores_batch_rows_in_shadow_as_it_scores_score_requests(
    credit_model: ModelVersion, trained_credit: TrainedModel, django_capture_on_commit_callbacks: Any
) -> None:
    challenger = register_trained(trained_credit, version="credit-challenger", status="challenger", threshold=0.5)
    job = scored(SEED_FILE, django_capture_on_commit_callbacks)
    decisions = list(Decision.objects.filter(batch_job=job).order_by("batch_row"))
    assert {d.shadow_model_version_id for d in decisions} == {challenger.pk}
    for decision in decisions:  # the same model file: the same probability, its own threshold
        assert decision.shadow_probability == pytest.approx(decision.probability_default, abs=1e-12)
        assert decision.shadow_prediction == int(decision.shadow_probability >= 0.5)


def test_rows_already_stored_are_skipped_and_never_stored_twice(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    require_postgresql()  # the COPY path and its ON CONFLICT fallback
    with django_capture_on_commit_callbacks(execute=False):
        job = submit(SEED_FILE)
    Decision.objects.create(  # as if a bug had stored row 3 already
        model_version=credit_model,
        features={"age": 52},
        probability_default=0.1,
        prediction=0,
        decision="approve",
        risk_level="LOW",
        threshold_used=credit_model.threshold,
        caller="user:1",
        batch_job=job,
        batch_row=3,
    )
    chunk = BatchChunk.objects.get(job=job)
    assert batch_chunk_score(chunk_id=chunk.pk).status == "done", BatchChunk.objects.get(pk=chunk.pk).last_error
    rows = list(Decision.objects.filter(batch_job=job).order_by("batch_row").values_list("batch_row", flat=True))
    assert rows == [2, 3]


def test_batch_figures_are_on_the_metrics_endpoint(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    scored(replace_lines(SEED_FILE, {3: "16,1,0"}), django_capture_on_commit_callbacks)
    body = APIClient().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    values = dict(line.rsplit(" ", 1) for line in body.splitlines() if line.startswith("batch_"))
    assert float(values["batch_rows_scored_total"]) >= 1
    assert float(values["batch_rows_rejected_total"]) >= 1
    assert "batch_chunk_retries_total" in values and "batch_chunks_dead_lettered_total" in values


# --- API -------------------------------------------------------------------------------------


def test_a_file_posted_to_the_api_answers_202_with_the_job_and_its_url(scorer: APIClient) -> None:
    response = upload(scorer, SEED_FILE)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert response["Location"] == body["url"] and body["url"].endswith(f"/api/v1/score/batch-jobs/{body['id']}")
    assert (body["filename"], body["file_format"], body["total_rows"], body["source"]) == (
        "applicants.csv",
        "csv",
        2,
        "api",
    )
    assert body["dead_letters"] == []


def test_the_job_shows_its_progress_then_its_result_and_rejects_files(
    scorer: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = upload(scorer, replace_lines(SEED_FILE, {3: "52,180,x"})).json()
    running = scorer.get(job["url"])
    assert running.json()["status"] == "queued" and running.json()["progress"] == 0
    assert scorer.get(job["result_url"]).status_code == 409
    callbacks[0]()
    done = scorer.get(job["url"]).json()
    assert (done["status"], done["progress"], done["rows_scored"], done["rows_rejected"]) == ("completed", 1.0, 1, 1)
    result = scorer.get(job["result_url"])
    assert result["Content-Type"].startswith("text/csv")
    [line] = read_csv(result)
    assert set(line) == {
        "row",
        "id",
        "client_id",
        "application_id",
        "probability_default",
        "decision",
        "risk_level",
        "reasons",
    }
    assert line["row"] == "2" and line["decision"] in {"approve", "refuse"}
    assert line["reasons"].split("; ")[0].split(":")[0] in {"historique_impaye", "age", "revenu", "seniority_years"}
    rejects = read_csv(scorer.get(job["rejects_url"]))
    assert rejects == [{"row": "3", "field": "historique_impaye", "reason": "A valid number is required."}]
    # A client that asks for CSV gets it (the file is never a 406), and its errors stay JSON.
    assert scorer.get(job["result_url"], HTTP_ACCEPT="text/csv").status_code == 200
    for accept in ("text/csv", "text/html"):  # a browser too: never the browsable API's page
        missing = scorer.get("/api/v1/score/batch-jobs/01890000-0000-7000-8000-000000000000/result", HTTP_ACCEPT=accept)
        assert missing.status_code == 404 and missing["Content-Type"] == "application/json"


def test_a_caller_sees_its_own_jobs_and_an_admin_sees_every_job(
    key_client: Callable[..., APIClient],
    client_as: Callable[[str | None], APIClient],
    credit_model: ModelVersion,
) -> None:
    first, second = key_client("analyst", ["score"]), key_client("analyst", ["score"])
    mine = upload(first, SEED_FILE).json()
    assert upload(second, SEED_FILE).status_code == 202
    assert [j["id"] for j in first.get("/api/v1/score/batch-jobs").json()["results"]] == [mine["id"]]
    for path in ("", "/result", "/rejects"):
        assert second.get(f"/api/v1/score/batch-jobs/{mine['id']}{path}").status_code == 404
    assert client_as("admin").get("/api/v1/score/batch-jobs").json()["count"] == 2
    assert client_as("admin").get(f"/api/v1/score/batch-jobs/{mine['id']}").status_code == 200


def test_an_admin_role_api_key_sees_only_its_own_jobs(
    key_client: Callable[..., APIClient], credit_model: ModelVersion
) -> None:
    """The role matrix gives API keys their own jobs whatever their role: a service account holding
    the admin role (for model activation) is not an admin person, and must not download every caller's files."""
    analyst, admin_key = key_client("analyst", ["score"]), key_client("admin", ["score"])
    theirs = upload(analyst, SEED_FILE).json()
    own = upload(admin_key, SEED_FILE).json()
    assert [j["id"] for j in admin_key.get("/api/v1/score/batch-jobs").json()["results"]] == [own["id"]]
    for path in ("", "/result", "/rejects"):
        assert admin_key.get(f"/api/v1/score/batch-jobs/{theirs['id']}{path}").status_code == 404


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        (b"PK\x03\x04rest", "ZIP archive"),
        (b"age,salaire,historique_impaye\n35,1,0\n", "Unknown columns: salaire."),
        (b"age,revenu\n35,1\n", "Missing required columns: historique_impaye."),
        (b"age,revenu,historique_impaye\n", "no applicant rows"),
        (
            b'age,revenu,historique_impaye\n35,1,0\n36,"2,1\n37,3,0\n38,4,1\n',
            "Line 3: the quoted value of column revenu runs on to line 5 (a quote not closed?)",
        ),
    ],
)
def test_a_file_that_cannot_be_scored_is_a_400_naming_the_problem(
    scorer: APIClient, content: bytes, message: str
) -> None:
    response = upload(scorer, content)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error" and message in body["fields"]["file"][0]
    assert not BatchJob.objects.exists()


def test_a_request_without_a_file_or_with_json_is_refused(scorer: APIClient) -> None:
    assert scorer.post("/api/v1/score/batch-jobs", {}, format="multipart").json()["fields"] == {
        "file": ["No file was submitted."]
    }
    response = scorer.post("/api/v1/score/batch-jobs", {"file": "age,revenu"}, format="json")
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"


def test_a_file_over_the_size_limit_is_a_413(scorer: APIClient, settings: Any) -> None:
    settings.BATCH_UPLOAD_MAX_BYTES = 100
    response = upload(scorer, SEED_FILE * 3)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    big = SEED_FILE + "35,1,0\n" * 20_000
    assert upload(scorer, big).status_code == 413  # refused on its Content-Length, unread


def test_without_a_champion_a_file_is_a_503(key_client: Callable[..., APIClient], db: None) -> None:
    response = upload(key_client("analyst", ["score"]), SEED_FILE)
    assert response.status_code == 503 and response.json()["error"] == "service_unavailable"


def test_the_api_documentation_describes_batch_jobs_and_how_their_reasons_are_computed(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"/api/v1/score/batch-jobs", "/api/v1/score/batch-jobs/{id}", "/api/v1/score/batch-jobs/{id}/result"} <= set(
        paths
    )
    post = paths["/api/v1/score/batch-jobs"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert "exact TreeSHAP" in post["description"] and "202" in post["responses"]


def test_an_extra_form_field_or_a_second_file_is_refused_not_ignored(scorer: APIClient) -> None:
    """Two ``file`` parts: the last was scored and the first dropped unseen; another field was ignored."""
    url = "/api/v1/score/batch-jobs"
    extra = scorer.post(
        url, {"file": SimpleUploadedFile("a.csv", SEED_FILE.encode()), "chunk_rows": "5"}, format="multipart"
    )
    assert extra.status_code == 400 and extra.json()["fields"] == {"chunk_rows": ["Unknown field."]}
    two = scorer.post(
        url,
        {"file": [SimpleUploadedFile("a.csv", SEED_FILE.encode()), SimpleUploadedFile("b.csv", SEED_FILE.encode())]},
        format="multipart",
    )
    assert two.status_code == 400 and two.json()["fields"] == {"file": ["Sent more than once: send this field once."]}
    assert not BatchJob.objects.exists()
    assert upload(scorer, SEED_FILE).status_code == 202


def test_a_request_with_more_files_than_django_parses_is_a_413_not_a_500(scorer: APIClient, settings: Any) -> None:
    """Past DATA_UPLOAD_MAX_NUMBER_FILES the multipart parser gives up (TooManyFilesSent): a JSON 413
    like too many fields, not a 500 (a script attaching a folder of files instead of one)."""
    files = {f"file{i}": SimpleUploadedFile(f"part{i}.csv", SEED_FILE.encode()) for i in range(3)}
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = scorer.post("/api/v1/score/batch-jobs", files, format="multipart")
    assert response.status_code == 413, response.content
    assert response.json() == {"error": "payload_too_large", "detail": "Too many files in the request."}
    assert not BatchJob.objects.exists()


def test_a_content_length_that_is_not_a_number_is_a_400_naming_it_not_a_500(scorer: APIClient) -> None:
    body = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n' + SEED_FILE.encode()
    body += b"\r\n--xx--\r\n"
    response = scorer.generic(
        "POST", "/api/v1/score/batch-jobs", body, content_type="multipart/form-data; boundary=xx", CONTENT_LENGTH="12a"
    )
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"Content-Length": ["Send the length of the body in bytes."]}
    assert not BatchJob.objects.exists()


def test_an_upload_retried_with_its_idempotency_key_is_the_same_job_not_a_second_one(
    scorer: APIClient, key_client: Callable[..., APIClient], django_capture_on_commit_callbacks: Any
) -> None:
    """A client whose upload timed out sends it again: every applicant must not be decided twice."""
    url = "/api/v1/score/batch-jobs"

    def send(api: APIClient, text: str, key: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(
                url, {"file": SimpleUploadedFile("a.csv", text.encode())}, format="multipart", HTTP_IDEMPOTENCY_KEY=key
            )

    first = send(scorer, SEED_FILE, "portfolio-2026-12")
    assert first.status_code == 202 and "Idempotent-Replayed" not in first
    again = send(scorer, SEED_FILE, "portfolio-2026-12")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again["Location"] == first["Location"]
    assert BatchJob.objects.count() == 1
    assert Decision.objects.filter(batch_job_id=first.json()["id"]).count() == 2

    other = send(scorer, SEED_FILE.replace("52,180,0", "53,180,0"), "portfolio-2026-12")
    assert other.status_code == 409 and first.json()["id"] in other.json()["detail"]
    # Another caller's key is its own; a new key is a new job.
    assert send(key_client("analyst", ["score"]), SEED_FILE, "portfolio-2026-12").status_code == 202
    assert send(scorer, SEED_FILE, "portfolio-2026-12b").status_code == 202
    assert BatchJob.objects.count() == 3
    bad = scorer.post(url, {"file": SimpleUploadedFile("a.csv", b"x")}, format="multipart", HTTP_IDEMPOTENCY_KEY="")
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["fields"]


def test_two_uploads_at_once_with_one_idempotency_key_store_one_job(credit_model: ModelVersion) -> None:
    """The second upload, past the look-up while the first was being stored, gets the first's job."""
    from scoring.batch.services import batch_file_check, batch_job_submit_once

    checked = batch_file_check(data=SEED_FILE.encode(), filename="a.csv")
    first = batch_job_submit_once(
        data=SEED_FILE.encode(), filename="a.csv", caller="user:1", source="api", idempotency_key="k1"
    )
    assert not first.replayed and checked.split.sha256 == first.job.file_sha256
    from scoring.batch import services

    racing = services._job_store(checked, caller="user:1", source="api", idempotency_key="k1")
    assert racing.replayed and racing.job.pk == first.job.pk
    assert BatchJob.objects.count() == 1


def test_a_column_named_by_a_features_alias_is_that_feature_as_on_score(
    scorer: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    """``montant_credit`` (the seed clients' name for ``amount``) is accepted in the header: its values
    must be used, not silently dropped (every applicant's amount missing, every decision changed)."""
    aliased = scored("age,revenu,historique_impaye,montant_credit\n35,500,0,4000\n", django_capture_on_commit_callbacks)
    canonical = scored("age,revenu,historique_impaye,amount\n35,500,0,4000\n", django_capture_on_commit_callbacks)
    [by_alias] = Decision.objects.filter(batch_job=aliased)
    [by_name] = Decision.objects.filter(batch_job=canonical)
    assert by_alias.features["amount"] == 4000
    assert (by_alias.features, by_alias.probability_default) == (by_name.features, by_name.probability_default)
    live = scorer.post("/api/v1/score", {"age": 35, "revenu": 500, "historique_impaye": 0, "montant_credit": 4000})
    assert live.json()["probability_default"] == pytest.approx(by_alias.probability_default, abs=1e-12)


def test_a_parquet_column_named_by_a_features_alias_is_read_not_a_500(
    scorer: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    frame = pd.DataFrame({"age": [35], "revenu": [500.0], "historique_impaye": [0], "montant_credit": [4000.0]})
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(scorer, out.getvalue(), name="applicants.parquet")
    assert response.status_code == 202, response.content
    [decision] = Decision.objects.filter(batch_job_id=response.json()["id"])
    assert decision.features["amount"] == 4000
    wrong = pd.DataFrame({"age": [35], "revenu": [500.0], "historique_impaye": [0], "montant_credit": [True]})
    out = io.BytesIO()
    wrong.to_parquet(out, index=False)
    refused = upload(scorer, out.getvalue(), name="applicants.parquet")
    assert refused.status_code == 400 and "montant_credit" in refused.json()["fields"]["file"][0]


def test_a_reject_in_a_column_named_by_an_alias_names_the_files_own_header(
    scorer: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    """The rejects file names the column as the file does: ``montant_credit`` (the header the caller
    wrote), not ``amount`` (a name absent from the file), in CSV and Parquet alike."""
    text = "age,revenu,historique_impaye,montant_credit\n35,500,0,abc\n16,500,0,-5\n"
    with django_capture_on_commit_callbacks(execute=True):
        job = upload(scorer, text).json()
    errors = dict(BatchJob.objects.get(pk=job["id"]).rejects.values_list("row", "errors"))
    assert set(errors[2]) == {"montant_credit"} and set(errors[3]) == {"age", "montant_credit"}
    rejects = read_csv(scorer.get(f"{job['url']}/rejects"))
    assert {line["field"] for line in rejects} == {"age", "montant_credit"}
    frame = pd.DataFrame({"age": [35], "revenu": [500.0], "historique_impaye": [0], "montant_credit": [-5.0]})
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(scorer, out.getvalue(), name="applicants.parquet")
    assert response.status_code == 202, response.content
    parquet = BatchJob.objects.get(pk=response.json()["id"])
    assert set(dict(parquet.rejects.values_list("row", "errors"))[1]) == {"montant_credit"}


def corrupt_parquet(rows: int = 2000) -> bytes:
    """A Parquet file whose header and footer read but whose first data page is garbage (a damaged copy)."""
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"age": [35 + i % 40 for i in range(rows)], "revenu": [1.5 * i for i in range(rows)]})
    frame["historique_impaye"] = [i % 2 for i in range(rows)]
    out = io.BytesIO()
    frame.to_parquet(out, index=False, compression="snappy")
    data = bytearray(out.getvalue())
    column = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0).column(1)
    start = column.data_page_offset + 40  # past the page header: the compressed values
    data[start : start + 200] = b"\xff" * 200
    return bytes(data)


def test_a_damaged_parquet_file_is_a_400_naming_the_file_not_a_500(scorer: APIClient) -> None:
    """Its footer reads, its pages do not (a transfer cut or a bad disk): refused whole, nothing stored."""
    response = upload(scorer, corrupt_parquet(), name="portfolio.parquet")
    assert response.status_code == 400, response.content
    assert "cannot be read to the end" in response.json()["fields"]["file"][0]
    assert not BatchJob.objects.exists()


@pytest.mark.parametrize("dictionary", [True, False], ids=["dictionary-encoded", "plain"])
def test_a_parquet_file_whose_text_would_unpack_past_the_size_limit_is_refused_before_it_is_unpacked(
    scorer: APIClient, settings: Any, dictionary: bool
) -> None:
    """A few kilobytes of Parquet can hold gigabytes of text (one long value, dictionary-encoded and
    compressed, repeated on every row): cut into chunks as CSV it would fill the web process's memory.
    The rows as CSV may take at most twice BATCH_UPLOAD_MAX_BYTES, what a CSV upload could hold."""
    settings.BATCH_UPLOAD_MAX_BYTES = 1_000_000
    rows = 2000
    frame = pd.DataFrame({"age": [35] * rows, "revenu": [500.0] * rows, "historique_impaye": [0] * rows})
    frame["client_id"] = ["C" * 20_000] * rows  # 40 MB of text once written out
    out = io.BytesIO()
    frame.to_parquet(out, index=False, compression="zstd", use_dictionary=dictionary)
    assert len(out.getvalue()) < 100_000
    response = upload(scorer, out.getvalue(), name="portfolio.parquet")
    assert response.status_code == 400, response.content
    message = response.json()["fields"]["file"][0]
    assert "client_id" in message and "2,000,000 bytes" in message, message
    assert not BatchJob.objects.exists()
    small = upload(scorer, _parquet(frame.assign(client_id=[f"C{i}" for i in range(rows)])), name="ok.parquet")
    assert small.status_code == 202, small.content


def _parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()
