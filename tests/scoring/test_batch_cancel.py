"""Cancelling a batch job: by its caller or an admin (service, API, admin page), or by the platform
once its caller lost its access. What was stored stays and is counted; nothing more is scored.

The chunks run in-process here; ``tests/integration/test_batch_worker.py`` cancels a job on a
real worker.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from audit.models import AuditEvent
from scoring.batch import services as batch_services
from scoring.batch.services import BatchJobNotCancellable, batch_chunk_score, batch_job_cancel, batch_job_submit
from scoring.choices import BatchChunkStatus, BatchJobStatus
from scoring.models import BatchChunk, BatchJob, Client, Decision, ModelVersion
from tests.factories import batch_caller
from tests.races import in_thread, wait_for_a_lock_wait
from tests.scoring.batchfiles import applicants_csv
from tests.services import require_postgresql

SEED_FILE = "age,revenu,historique_impaye\n35,50000,1\n52,180,0\n"


def submit(text: str, caller: str, chunk_rows: int | None = None) -> BatchJob:
    """A stored job whose chunks have not run (their tasks leave at the commit; none here)."""
    job = batch_job_submit(data=text.encode(), filename="f.csv", caller=caller, source="api", chunk_rows=chunk_rows)
    job.refresh_from_db()
    return job


def result_lines(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def key_and_label(role: str = "analyst") -> tuple[APIClient, str]:
    issued = api_key_create(name=f"batch-{role}", role=role, scopes=["score", "read"])
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=issued.plain_key)
    return api, issued.api_key.label


# --- The service --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_queued_job_cancelled_scores_none_of_its_rows(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = submit(applicants_csv(30, seed=1), batch_caller(), chunk_rows=10)
    admin = User.objects.create_superuser("boss", "boss@example.test", "x")
    cancelled = batch_job_cancel(job=job, by=admin, reason="requested")
    assert (cancelled.status, cancelled.cancel_reason) == (BatchJobStatus.CANCELLED, "requested")
    assert cancelled.finished_at is not None
    for callback in callbacks:  # the chunk tasks, delivered after the cancel
        callback()
    job.refresh_from_db()
    assert (job.status, job.rows_scored, job.chunks_done) == (BatchJobStatus.CANCELLED, 0, 0)
    assert not Decision.objects.filter(batch_job=job).exists()
    chunks = BatchChunk.objects.filter(job=job)
    assert set(chunks.values_list("status", flat=True)) == {BatchChunkStatus.CANCELLED}
    assert not chunks.exclude(payload=b"").exists()  # rows never to be decided are not kept
    assert batch_chunk_score(chunk_id=chunks.first().pk).status == "skipped"  # a message redelivered later
    event = AuditEvent.objects.get(action="batch.cancelled")
    assert (event.actor_name, event.target_id) == ("boss", str(job.pk))
    assert event.details == {
        "reason": "requested",
        "chunks_cancelled": 3,
        "chunks_done": 0,
        "rows_scored": 0,
        "rows_rejected": 0,
    }


@pytest.mark.django_db
def test_a_job_cancelled_mid_run_keeps_exactly_the_chunks_stored_before(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any, client_as: Callable[[str | None], APIClient]
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = submit(applicants_csv(30, seed=2), batch_caller(), chunk_rows=10)
    first, second, third = BatchChunk.objects.filter(job=job).order_by("number")
    assert batch_chunk_score(chunk_id=first.pk).status == "done"
    batch_job_cancel(job=job, by=None, reason="requested")
    assert batch_chunk_score(chunk_id=second.pk).status == "skipped"
    assert batch_chunk_score(chunk_id=third.pk).status == "skipped"

    job.refresh_from_db()
    first.refresh_from_db()
    assert (job.status, job.chunks_done, job.rows_scored, job.rows_rejected) == (
        BatchJobStatus.CANCELLED,
        1,
        first.rows_scored,
        first.rows_rejected,
    )
    assert first.rows_scored + first.rows_rejected == 10
    rows = set(Decision.objects.filter(batch_job=job).values_list("batch_row", flat=True))
    assert rows and rows <= set(range(first.first_row, first.last_row + 1))
    assert len(rows) == first.rows_scored

    # The result file holds what was scored, and says the job was cancelled.
    admin = client_as("admin")
    result = admin.get(f"/api/v1/score/batch-jobs/{job.pk}/result")
    assert result.status_code == 200
    assert result["X-Batch-Job-Status"] == "cancelled" and "-result-cancelled.csv" in result["Content-Disposition"]
    assert {int(line["row"]) for line in result_lines(result)} == rows
    rejects = admin.get(f"/api/v1/score/batch-jobs/{job.pk}/rejects")
    assert rejects.status_code == 200 and rejects["X-Batch-Job-Status"] == "cancelled"
    body = admin.get(f"/api/v1/score/batch-jobs/{job.pk}").json()
    assert (body["status"], body["cancel_reason"], body["rows_scored"]) == ("cancelled", "requested", len(rows))


@pytest.mark.django_db
@pytest.mark.parametrize("ended", ["completed", "cancelled"])
def test_a_job_that_has_ended_cannot_be_cancelled_and_the_error_names_its_status(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any, ended: str
) -> None:
    with django_capture_on_commit_callbacks(execute=ended == "completed"):
        job = submit(SEED_FILE, batch_caller())
    if ended == "cancelled":
        batch_job_cancel(job=job, by=None, reason="requested")
    with pytest.raises(BatchJobNotCancellable, match=f"status is {ended}") as refused:
        batch_job_cancel(job=job, by=None, reason="requested")
    assert refused.value.status == ended
    job.refresh_from_db()
    assert job.status == ended
    assert AuditEvent.objects.filter(action="batch.cancelled").count() == (1 if ended == "cancelled" else 0)


@pytest.mark.django_db
def test_a_cancelled_job_is_not_started_again_by_retrying_its_dead_letters(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = submit(applicants_csv(20, seed=3), batch_caller(), chunk_rows=10)
    dead = BatchChunk.objects.filter(job=job, number=0)
    dead.update(status=BatchChunkStatus.DEAD, attempts=3)
    BatchJob.objects.filter(pk=job.pk).update(chunks_dead=1, status="running")
    batch_job_cancel(job=job, by=None, reason="requested")
    assert batch_services.batch_job_retry_dead_letters(job=job) == 0
    job.refresh_from_db()
    assert job.status == BatchJobStatus.CANCELLED


# --- A chunk being stored at the instant of the cancel: whole or not at all ----------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["chunk", "cancel"])
def test_a_chunk_being_stored_when_its_job_is_cancelled_is_stored_whole_or_not_at_all(
    credit_model: ModelVersion, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """Two workers' connections: a chunk storing its rows and the cancel, each held where the other
    must wait for it. ``chunk``: the chunk holds its transaction (after the job's gate) when the
    cancel comes; the cancel waits, then counts it. ``cancel``: the cancel holds its transaction when
    the scored chunk comes to store its rows; the chunk waits, then stores nothing (not even its
    new clients)."""
    require_postgresql()
    monkeypatch.setattr(batch_services, "_enqueue", lambda *args, **kwargs: None)
    text = "age,revenu,historique_impaye,client_id\n" + "".join(f"{30 + i},2000,0,NEW{i}\n" for i in range(6))
    job = submit(text, batch_caller(), chunk_rows=3)
    chunk, other = BatchChunk.objects.filter(job=job).order_by("number")
    held, go = threading.Event(), threading.Event()

    def hold(real: Callable[..., Any]) -> Callable[..., Any]:
        def holding(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            held.set()
            assert go.wait(timeout=60)
            return result

        return holding

    results: dict[str, Any] = {}
    if first == "chunk":  # held inside its storing transaction, its new clients inserted
        monkeypatch.setattr(batch_services, "_link_new_clients", hold(batch_services._link_new_clients))
        scoring = in_thread(results, "chunk", lambda: batch_chunk_score(chunk_id=chunk.pk, worker="w1"))
        assert held.wait(timeout=60)
        cancelling = in_thread(results, "cancel", lambda: batch_job_cancel(job=job, by=None, reason="requested"))
    else:  # the cancel holds the job's row; the chunk, scored, then comes to store its rows
        monkeypatch.setattr(batch_services, "audit_record", hold(batch_services.audit_record))
        scored, go_store = threading.Event(), threading.Event()
        real_score = batch_services.score_rows

        def score_then_wait(*args: Any, **kwargs: Any) -> Any:
            result = real_score(*args, **kwargs)
            scored.set()
            assert go_store.wait(timeout=60)
            return result

        monkeypatch.setattr(batch_services, "score_rows", score_then_wait)
        scoring = in_thread(results, "chunk", lambda: batch_chunk_score(chunk_id=chunk.pk, worker="w1"))
        assert scored.wait(timeout=60)  # claimed and scored, not yet storing
        cancelling = in_thread(results, "cancel", lambda: batch_job_cancel(job=job, by=None, reason="requested"))
        assert held.wait(timeout=60)  # the cancel holds the job's row
        go_store.set()
    wait_for_a_lock_wait()  # the other one waits for the holder's transaction
    go.set()
    scoring.join(timeout=120)
    cancelling.join(timeout=120)

    job = BatchJob.objects.get(pk=job.pk)
    assert isinstance(results["cancel"], BatchJob), results
    assert job.status == BatchJobStatus.CANCELLED
    stored = set(Decision.objects.filter(batch_job=job).values_list("batch_row", flat=True))
    if first == "chunk":
        assert results["chunk"].status == "done", results
        assert stored == {2, 3, 4}  # the whole chunk
        assert (job.chunks_done, job.rows_scored) == (1, 3)
        assert sorted(Client.objects.values_list("client_id", flat=True)) == ["NEW0", "NEW1", "NEW2"]
    else:
        assert results["chunk"].status == "cancelled", results
        assert not stored  # none of it
        assert (job.chunks_done, job.rows_scored) == (0, 0)
        assert not Client.objects.exists()
    assert BatchChunk.objects.get(pk=other.pk).status == BatchChunkStatus.CANCELLED
    assert batch_chunk_score(chunk_id=other.pk).status == "skipped"


# --- The API ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_caller_cancels_its_job_through_the_api_and_gets_the_job_back(credit_model: ModelVersion) -> None:
    api, label = key_and_label()
    job = submit(SEED_FILE, label)
    response = api.post(f"/api/v1/score/batch-jobs/{job.pk}/cancel")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["cancel_reason"], body["rows_scored"]) == (
        str(job.pk),
        "cancelled",
        "requested",
        0,
    )
    assert body["dead_letters"] == [] and body["finished_at"]
    event = AuditEvent.objects.get(action="batch.cancelled")
    assert (event.actor, event.details["reason"]) == (label, "requested")

    again = api.post(f"/api/v1/score/batch-jobs/{job.pk}/cancel")
    assert again.status_code == 409
    assert again.json()["error"] == "conflict" and "status is cancelled" in again.json()["detail"]


@pytest.mark.django_db
def test_another_callers_job_is_a_404_and_an_admin_cancels_any_job(
    credit_model: ModelVersion, client_as: Callable[[str | None], APIClient]
) -> None:
    _owner, label = key_and_label()
    other, _ = key_and_label()
    admin_key, _ = key_and_label("admin")  # a service account, not an admin person: its own jobs only
    job = submit(SEED_FILE, label)
    for api in (other, admin_key, client_as("analyst")):
        assert api.post(f"/api/v1/score/batch-jobs/{job.pk}/cancel").status_code == 404
    assert client_as("viewer").post(f"/api/v1/score/batch-jobs/{job.pk}/cancel").status_code == 403
    assert APIClient().post(f"/api/v1/score/batch-jobs/{job.pk}/cancel").status_code == 401
    job.refresh_from_db()
    assert job.status == BatchJobStatus.QUEUED
    response = client_as("admin").post(f"/api/v1/score/batch-jobs/{job.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert AuditEvent.objects.get(action="batch.cancelled").actor_name == "admin-user"


@pytest.mark.django_db
def test_cancelling_a_finished_job_through_the_api_is_a_409_naming_its_status(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    api, label = key_and_label()
    with django_capture_on_commit_callbacks(execute=True):
        job = submit(SEED_FILE, label)
    response = api.post(f"/api/v1/score/batch-jobs/{job.pk}/cancel")
    assert response.status_code == 409
    assert "status is completed" in response.json()["detail"]
    assert api.post("/api/v1/score/batch-jobs/01890000-0000-7000-8000-000000000000/cancel").status_code == 404


# --- The admin ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_analyst_cancels_their_job_from_its_admin_page_and_sees_the_services_error_after(
    credit_model: ModelVersion, client_as: Callable[[str | None], APIClient]
) -> None:
    analyst = client_as("analyst")
    job = submit(SEED_FILE, f"user:{analyst.session['_auth_user_id']}")
    theirs = submit(SEED_FILE, batch_caller("other"))
    page = analyst.get(f"/admin/scoring/batchjob/{job.pk}/change/").content.decode()
    assert 'id="cancel-job"' in page
    response = analyst.post(f"/admin/scoring/batchjob/{job.pk}/cancel/", follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "cancelled: 0 row(s) scored before are kept" in text
    assert (
        'id="cancel-job"' not in text
        and "Cancelled (by its caller or an admin): the files hold the 0 chunk(s) scored before." in text
    )
    job.refresh_from_db()
    assert job.status == BatchJobStatus.CANCELLED

    again = analyst.post(f"/admin/scoring/batchjob/{job.pk}/cancel/", follow=True).content.decode()
    assert "This job&#x27;s status is cancelled: only a queued or running job can be cancelled." in again
    assert analyst.get(f"/admin/scoring/batchjob/{job.pk}/cancel/").status_code == 405  # POST only
    assert analyst.post(f"/admin/scoring/batchjob/{theirs.pk}/cancel/").status_code == 404
    assert client_as("viewer").post(f"/admin/scoring/batchjob/{theirs.pk}/cancel/").status_code == 403
    admin = client_as("admin")
    assert admin.post(f"/admin/scoring/batchjob/{theirs.pk}/cancel/").status_code == 302
    theirs.refresh_from_db()
    assert theirs.status == BatchJobStatus.CANCELLED


@pytest.mark.django_db
def test_the_admin_cancel_action_cancels_the_open_jobs_and_names_the_others_status(
    credit_model: ModelVersion, client_as: Callable[[str | None], APIClient], django_capture_on_commit_callbacks: Any
) -> None:
    queued = submit(SEED_FILE, batch_caller())
    with django_capture_on_commit_callbacks(execute=True):
        done = submit(SEED_FILE, batch_caller())
    response = client_as("admin").post(
        "/admin/scoring/batchjob/",
        {"action": "cancel_jobs", "_selected_action": [str(queued.pk), str(done.pk)]},
        format="multipart",
        follow=True,
    )
    text = response.content.decode()
    assert "1 job(s) cancelled." in text and "status is completed" in text
    assert BatchJob.objects.get(pk=queued.pk).status == BatchJobStatus.CANCELLED
    assert BatchJob.objects.get(pk=done.pk).status == BatchJobStatus.COMPLETED


# --- A caller who lost its access -------------------------------------------------------------


@pytest.mark.django_db
def test_revoking_an_api_key_cancels_its_running_jobs_and_keeps_what_they_stored(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any, client_as: Callable[[str | None], APIClient]
) -> None:
    _api, label = key_and_label()
    with django_capture_on_commit_callbacks(execute=False):
        job = submit(applicants_csv(20, seed=4), label, chunk_rows=10)
        others = submit(SEED_FILE, batch_caller())
    first, second = BatchChunk.objects.filter(job=job).order_by("number")
    assert batch_chunk_score(chunk_id=first.pk).status == "done"
    first.refresh_from_db()
    admin = User.objects.create_superuser("boss", "boss@example.test", "x")
    api_key_revoke(api_key=ApiKey.objects.get(prefix=label.split(":", 1)[1]), by=admin)
    job.refresh_from_db()
    assert (job.status, job.cancel_reason, job.chunks_done) == (BatchJobStatus.CANCELLED, "caller_access_revoked", 1)
    assert batch_chunk_score(chunk_id=second.pk).status == "skipped"
    assert Decision.objects.filter(batch_job=job).count() == job.rows_scored == first.rows_scored
    event = AuditEvent.objects.get(action="batch.cancelled")
    assert (event.actor_name, event.details["reason"]) == ("boss", "caller_access_revoked")
    assert BatchJob.objects.get(pk=others.pk).status == BatchJobStatus.QUEUED  # another caller's job goes on


@pytest.mark.django_db
@pytest.mark.parametrize("lost", ["expired", "deactivated", "demoted"])
def test_a_job_whose_caller_lost_its_access_is_cancelled_when_its_next_chunk_is_picked_up(
    credit_model: ModelVersion, django_capture_on_commit_callbacks: Any, lost: str
) -> None:
    """No signal tells the jobs (a key past its expiry, a user switched off in the admin): the
    worker asks before each chunk, as a webhook delivery does (``caller_may_decide``)."""
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.utils import timezone

    if lost == "expired":
        _api, caller = key_and_label()
    else:
        caller = batch_caller("leaving")
    with django_capture_on_commit_callbacks(execute=False):
        job = submit(applicants_csv(20, seed=5), caller, chunk_rows=10)
    first, second = BatchChunk.objects.filter(job=job).order_by("number")
    assert batch_chunk_score(chunk_id=first.pk).status == "done"
    first.refresh_from_db()
    if lost == "expired":
        ApiKey.objects.filter(prefix=caller.split(":", 1)[1]).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif lost == "deactivated":
        User.objects.filter(pk=int(caller.split(":")[1])).update(is_active=False)
    else:
        User.objects.get(pk=int(caller.split(":")[1])).groups.set(Group.objects.filter(name="viewer"))
    assert batch_chunk_score(chunk_id=second.pk).status == "cancelled"
    job.refresh_from_db()
    assert (job.status, job.cancel_reason) == (BatchJobStatus.CANCELLED, "caller_access_revoked")
    assert (job.chunks_done, job.rows_scored) == (1, first.rows_scored) and first.rows_scored > 0
    assert Decision.objects.filter(batch_job=job).count() == first.rows_scored
    event = AuditEvent.objects.get(action="batch.cancelled")
    assert (event.actor, event.details["reason"]) == ("system", "caller_access_revoked")
