"""Batch jobs in the admin: an analyst uploads a file and follows its job; admins see every job."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from audit.models import AuditEvent
from scoring.batch.services import batch_job_submit
from scoring.choices import BatchChunkStatus
from scoring.models import BatchChunk, BatchJob, ModelVersion
from tests.browser import ARTIFACTS, login
from tests.factories import batch_caller
from tests.scoring.batchfiles import applicants_csv, replace_lines

SEED_FILE = "age,revenu,historique_impaye\n35,50000,1\n52,180,0\n16,100,0\n"


def post_file(api: APIClient, content: str, name: str = "portfolio.csv") -> Any:
    upload = SimpleUploadedFile(name, content.encode())
    return api.post("/admin/scoring/batchjob/add/", {"file": upload}, format="multipart")


@pytest.mark.django_db
def test_an_analyst_uploads_a_file_and_follows_the_progress_of_its_job(
    client_as: Callable[[str | None], APIClient], credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    analyst = client_as("analyst")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_file(analyst, SEED_FILE)
    job = BatchJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/scoring/batchjob/{job.pk}/change/"
    page = analyst.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in page  # refreshes itself while the workers work
    assert "0%" in page and "ready when the job ends" in page
    assert (job.source, job.caller, job.total_rows) == ("admin", f"user:{analyst.session['_auth_user_id']}", 3)

    for callback in callbacks:
        callback()
    page = analyst.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert "100%" in page and "<strong>2</strong> scored, <strong>1</strong> rejected" in page
    result = analyst.get(f"/admin/scoring/batchjob/{job.pk}/result/")
    lines = list(csv.DictReader(io.StringIO(b"".join(result.streaming_content).decode())))
    assert [line["row"] for line in lines] == ["2", "3"]
    rejects = b"".join(analyst.get(f"/admin/scoring/batchjob/{job.pk}/rejects/").streaming_content).decode()
    assert rejects.splitlines() == ["row,field,reason", "4,age,Ensure this value is greater than or equal to 17."]


@pytest.mark.django_db
def test_a_file_that_cannot_be_scored_is_refused_in_the_upload_form(
    client_as: Callable[[str | None], APIClient], credit_model: ModelVersion
) -> None:
    response = post_file(client_as("analyst"), "age,revenue,historique_impaye\n35,1,0\n")
    assert response.status_code == 200
    assert "Unknown columns: revenue." in response.content.decode()
    assert not BatchJob.objects.exists()


@pytest.mark.django_db
def test_analysts_see_their_own_jobs_and_admins_retry_dead_letters(
    client_as: Callable[[str | None], APIClient], credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    analyst, admin = client_as("analyst"), client_as("admin")
    with django_capture_on_commit_callbacks(execute=True):
        other = batch_caller("other")
        theirs = batch_job_submit(data=SEED_FILE.encode(), filename="other.csv", caller=other, source="api")
    mine = BatchJob.objects.get(
        pk=batch_job_submit(
            data=SEED_FILE.encode(),
            filename="mine.csv",
            caller=f"user:{analyst.session['_auth_user_id']}",
            source="admin",
        ).pk
    )
    listing = analyst.get("/admin/scoring/batchjob/").content.decode()
    assert "mine.csv" in listing and "other.csv" not in listing
    assert analyst.get(f"/admin/scoring/batchjob/{theirs.pk}/change/").status_code == 302  # not found: back to the list
    assert analyst.get(f"/admin/scoring/batchjob/{theirs.pk}/result/").status_code == 404
    assert "other.csv" in admin.get("/admin/scoring/batchjob/").content.decode()

    BatchChunk.objects.filter(job=mine).update(status=BatchChunkStatus.DEAD, attempts=3, last_error="MemoryError: ")
    BatchJob.objects.filter(pk=mine.pk).update(chunks_dead=1, status="failed")
    page = admin.get(f"/admin/scoring/batchjob/{mine.pk}/change/").content.decode()
    assert "MemoryError" in page and "dead-letters" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/admin/scoring/batchjob/",
            {"action": "retry_dead_letters", "_selected_action": [str(mine.pk)]},
            format="multipart",
        )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.status, mine.chunks_dead, mine.rows_scored) == ("completed", 0, 2)


@pytest.mark.browser
@pytest.mark.oidc
@pytest.mark.django_db(transaction=True)
def test_an_analyst_uploads_a_file_in_the_browser_and_downloads_its_result(
    site: str, chromium: Any, credit_model: ModelVersion, tmp_path: Any
) -> None:
    path = tmp_path / "portfolio.csv"
    path.write_text(replace_lines(applicants_csv(3000, seed=31), {10: "16,100,0"}))
    page = login(chromium, site, "analyst")
    page.goto(f"{site}/admin/scoring/batchjob/add/")
    page.set_input_files("input[name=file]", str(path))
    page.screenshot(path=str(ARTIFACTS / "batch-upload-form.png"), full_page=True)
    page.click("[name=_save]")
    page.get_by_text("3,000 rows in 1 chunk(s)").wait_for()
    page.wait_for_selector("text=Result (CSV)")  # in-process tasks: done by the time the page shows
    body = page.locator("#content-main").inner_text()
    assert "2,999" in body and "Completed" in body
    page.screenshot(path=str(ARTIFACTS / "batch-job-completed.png"), full_page=True)
    with page.expect_download() as download:
        page.click("text=Result (CSV)")
    lines = download.value.path().read_text().splitlines()
    assert lines[0].startswith("row,id,client_id") and len(lines) == 3000
    page.context.close()


@pytest.mark.django_db
def test_a_damaged_parquet_file_is_refused_in_the_upload_form_not_a_500(
    client_as: Callable[[str | None], APIClient], credit_model: ModelVersion
) -> None:
    from tests.scoring.test_batch_jobs import corrupt_parquet

    upload = SimpleUploadedFile("portfolio.parquet", corrupt_parquet())
    response = client_as("analyst").post("/admin/scoring/batchjob/add/", {"file": upload}, format="multipart")
    assert response.status_code == 200
    assert "cannot be read to the end" in response.content.decode()
    assert not BatchJob.objects.exists()


@pytest.mark.django_db
def test_an_upload_form_sent_twice_stores_one_job_not_two(
    client_as: Callable[[str | None], APIClient], credit_model: ModelVersion
) -> None:
    """A double click on Save, or Save again after a slow upload seemed to hang: the same page sends
    the same form twice. Each upload page carries its own token (the API's Idempotency-Key): sent
    again, it is the job stored the first time, not a second job deciding every applicant again."""
    analyst = client_as("analyst")
    page = analyst.get("/admin/scoring/batchjob/add/").content.decode()
    token = re.search(r'name="upload_token" value="([^"]+)"', page)
    assert token is not None, "the upload page carries its token"
    sent = [
        analyst.post(
            "/admin/scoring/batchjob/add/",
            {"file": SimpleUploadedFile("portfolio.csv", SEED_FILE.encode()), "upload_token": token.group(1)},
            format="multipart",
        )
        for _ in range(2)
    ]
    job = BatchJob.objects.get()
    assert [r.status_code for r in sent] == [302, 302]
    assert {r["Location"] for r in sent} == {f"/admin/scoring/batchjob/{job.pk}/change/"}
    other = analyst.post(
        "/admin/scoring/batchjob/add/",
        {"file": SimpleUploadedFile("other.csv", SEED_FILE.encode() + b"40,1,0\n"), "upload_token": token.group(1)},
        format="multipart",
    )
    assert other.status_code == 200 and "reload the page" in other.content.decode()
    fresh = re.search(
        r'name="upload_token" value="([^"]+)"', analyst.get("/admin/scoring/batchjob/add/").content.decode()
    )
    assert fresh is not None and fresh.group(1) != token.group(1)
    assert BatchJob.objects.count() == 1


@pytest.mark.django_db
def test_a_staff_download_of_a_jobs_results_is_in_the_audit_trail(
    client_as: Callable[[str | None], APIClient], credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    """The result file lists clients and their decisions: who took it out of the platform is on record."""
    admin = client_as("admin")
    theirs = batch_caller("theirs")
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_submit(data=SEED_FILE.encode(), filename="theirs.csv", caller=theirs, source="api")
    b"".join(admin.get(f"/admin/scoring/batchjob/{job.pk}/result/").streaming_content)
    b"".join(admin.get(f"/admin/scoring/batchjob/{job.pk}/rejects/").streaming_content)

    events = AuditEvent.objects.filter(action="batch.downloaded").order_by("seq")
    assert [(e.actor, e.target_type, e.target_id) for e in events] == [
        (f"user:{admin.session['_auth_user_id']}", "scoring.batchjob", str(job.pk))
    ] * 2
    assert [e.details for e in events] == [
        {"file": "result", "rows": 2, "caller": theirs},
        {"file": "rejects", "rows": 1, "caller": theirs},
    ]
