"""Access exports, the nightly retention job and the compliance front page."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from fraud.models import FraudAlert, Transaction
from monitoring.models import ApiCall
from privacy.models import RequestStatus
from privacy.services import access_export, gdpr_request_approve, gdpr_request_record, retention_apply
from privacy.tasks import retention_run
from scoring.models import Client, CreditApplication, Decision
from tests.factories import ClientFactory, FraudAlertFactory, FraudCheckFactory, TransactionFactory
from tests.privacy.conftest import make_history

pytestmark = pytest.mark.django_db


def test_the_access_export_is_one_json_document_with_everything_held(person: Any, officers: tuple[Any, Any]) -> None:
    request = gdpr_request_record(kind="access", client=person, by=officers[0], details="Asked by e-mail")
    gdpr_request_approve(request=request, by=officers[0])
    body, filename = access_export(request=request, by=officers[1])
    document = json.loads(body)
    tables = {t["table"]: t for t in document["tables"]}
    assert filename == f"access-export-{request.pk}.json"
    assert tables["scoring.Client"]["rows"][0]["email"] == "camille.zqx@example.test"
    assert len(tables["fraud.Transaction"]["rows"]) == 4
    assert {row["beneficiary"] for row in tables["fraud.Transaction"]["rows"]} >= {"DE89370400440532013000"}
    assert tables["scoring.Decision"]["rows"][0]["features"]["revenu"] == 3200
    assert "2015/849" in tables["fraud.Transaction"]["why_kept"] and tables["fraud.Transaction"]["retention"]
    assert "recorded_by" not in tables["privacy.GdprRequest"]["rows"][0]  # staff columns are not the person's


def test_the_export_completes_the_request_and_is_itself_audited(person: Any, officers: tuple[Any, Any]) -> None:
    request = gdpr_request_record(kind="access", client=person, by=officers[0])
    with pytest.raises(ValidationError):
        access_export(request=request, by=officers[0])  # not approved yet
    gdpr_request_approve(request=request, by=officers[1])
    body, _ = access_export(request=request, by=officers[0])
    request.refresh_from_db()
    assert request.status == RequestStatus.DONE and request.completed_by == "officer-a"
    event = AuditEvent.objects.filter(action="privacy.access.exported").get()
    assert event.target_id == str(request.pk) and event.details["bytes"] == len(body)
    assert event.details["rows"]["fraud.Transaction"] == 4
    assert "Zqxmartin" not in json.dumps(event.details)
    access_export(request=request, by=officers[1])  # downloading again is possible, and audited again
    assert AuditEvent.objects.filter(action="privacy.access.exported").count() == 2


def test_compliance_downloads_the_export_from_the_admin(
    person: Any, officers: tuple[Any, Any], client_as: Callable[[str | None], APIClient]
) -> None:
    request = gdpr_request_approve(
        request=gdpr_request_record(kind="access", client=person, by=officers[0]), by=officers[1]
    )
    officer = client_as("compliance")
    # A GET (a link followed from anywhere) exports nothing: the download answers the request.
    assert officer.get(f"/admin/privacy/gdprrequest/{request.pk}/export/").status_code == 405
    assert not AuditEvent.objects.filter(action="privacy.access.exported").exists()
    page = officer.get(f"/admin/privacy/gdprrequest/{request.pk}/change/").content.decode()
    assert 'id="download-export"' in page and 'method="post"' in page
    response = officer.post(f"/admin/privacy/gdprrequest/{request.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="access-export-{request.pk}.json"'
    assert json.loads(response.content)["subject"] == {"client_id": "C7001"}
    assert client_as("admin").post(f"/admin/privacy/gdprrequest/{request.pk}/export/").status_code == 403


def test_the_retention_job_deletes_what_passed_its_period_and_reports_it(settings: Any) -> None:
    old, recent = ClientFactory(), ClientFactory()
    make_history(old, days_ago=800, resolved_alert=True)
    make_history(recent, days_ago=1, resolved_alert=False)
    open_alert = FraudAlertFactory(
        fraud_check=FraudCheckFactory(
            transaction=TransactionFactory(client=old, timestamp=timezone.now() - dt.timedelta(days=800))
        )
    )
    ApiCall.objects.create(request_id="r1", method="GET", endpoint="/x", status_code=200, latency_ms=1)
    ApiCall.objects.filter(request_id="r1").update(created_at=timezone.now() - dt.timedelta(days=200))
    settings.RETENTION_TRANSACTION_DAYS = 730
    settings.API_CALL_LOG_RETENTION_DAYS = 180

    report = retention_run.delay().get()

    assert Transaction.objects.filter(client=old).count() == 1  # the one under an open alert
    assert FraudAlert.objects.filter(pk=open_alert.pk).exists()
    assert Transaction.objects.filter(client=recent).count() == 3
    assert not ApiCall.objects.filter(request_id="r1").exists()
    assert Decision.objects.filter(client=old).count() == 1  # decisions: 5 years
    assert report["deleted"]["fraud.Transaction"] == 4
    event = AuditEvent.objects.filter(action="retention.applied").get()
    assert event.actor == "system:retention" and event.details["deleted"]["monitoring.ApiCall"] == 1


def test_the_retention_job_removes_erased_clients_once_nothing_refers_to_them(
    person: Any, officers: tuple[Any, Any], settings: Any
) -> None:
    request = gdpr_request_record(kind="erasure", client=person, by=officers[0])
    gdpr_request_approve(request=request, by=officers[1], enqueue=False)
    from privacy.services import erasure_execute

    erasure_execute(request=request)
    assert Client.objects.filter(pk=person.pk).exists()  # the anchor of kept records
    later = timezone.now() + dt.timedelta(days=5 * 365 + 10)
    retention_apply(now=later)
    assert not Client.objects.filter(pk=person.pk).exists()
    assert not CreditApplication.objects.filter(client_id=person.pk).exists()


def test_the_retention_job_runs_deferred_erasures_once_their_hold_is_lifted(officers: tuple[Any, Any]) -> None:
    from fraud.services import fraud_alert_resolve, fraud_alert_take
    from tests.factories import UserFactory

    client = ClientFactory(last_name="Waiting")
    alert = FraudAlertFactory(fraud_check=FraudCheckFactory(transaction=TransactionFactory(client=client)))
    request = gdpr_request_approve(
        request=gdpr_request_record(kind="erasure", client=client, by=officers[0]), by=officers[1], enqueue=False
    )
    assert retention_apply()["erasures_done"] == []
    analyst = UserFactory(username="analyst-w", roles=["analyst"])
    fraud_alert_take(alert=alert, user=analyst)
    fraud_alert_resolve(alert=alert, user=analyst, resolution="confirmed_fraud", comment="Card stolen.")
    assert retention_apply()["erasures_done"] == [request.pk]
    assert Client.objects.get(pk=client.pk).last_name == ""


def test_the_front_page_lists_requests_due_soon_and_overdue_for_compliance(
    person: Any, officers: tuple[Any, Any], client_as: Callable[[str | None], APIClient]
) -> None:
    now = timezone.now()
    overdue = gdpr_request_record(kind="access", client=person, by=officers[0], received_at=now - dt.timedelta(days=40))
    soon = gdpr_request_record(kind="erasure", client=person, by=officers[0], received_at=now - dt.timedelta(days=26))
    later = gdpr_request_record(kind="access", client=person, by=officers[0], received_at=now - dt.timedelta(days=1))
    page = client_as("compliance").get("/admin/").content.decode()
    assert 'id="gdpr-due"' in page
    assert f"/admin/privacy/gdprrequest/{overdue.pk}/change/" in page and "overdue by" in page
    assert f"/admin/privacy/gdprrequest/{soon.pk}/change/" in page
    assert f"/admin/privacy/gdprrequest/{later.pk}/change/" not in page
    for role in ("admin", "analyst", "viewer"):
        assert 'id="gdpr-due"' not in client_as(role).get("/admin/").content.decode()


def test_no_role_deletes_a_client_in_the_admin(
    person: Any, client_as: Callable[[str | None], APIClient], django_user_model: Any
) -> None:
    superuser = django_user_model.objects.create_superuser("root-x", "r@example.test", "pw-unused-123")
    api = APIClient()
    api.force_login(superuser)
    assert api.get(f"/admin/scoring/client/{person.pk}/delete/").status_code == 403
    listing = api.get("/admin/scoring/client/").content.decode()
    assert "delete_selected" not in listing
    assert Client.objects.filter(pk=person.pk).exists()


def test_the_add_form_shows_the_services_errors_instead_of_failing(
    officers: tuple[Any, Any], client_as: Callable[[str | None], APIClient]
) -> None:
    erased = ClientFactory(erased_at=timezone.now())
    future = timezone.now() + dt.timedelta(days=3)
    response = client_as("compliance").post(
        "/admin/privacy/gdprrequest/add/",
        {
            "kind": "erasure",
            "client": erased.pk,
            "received_at_0": future.strftime("%Y-%m-%d"),
            "received_at_1": "10:00:00",
            "details": "",
        },
        format="multipart",
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "This client was erased" in page and "cannot be received in the future" in page
    hold = client_as("compliance").post(
        "/admin/privacy/legalhold/add/",
        {"client": erased.pk, "reason": "legal_claim", "until": "2001-01-01", "details": ""},
        format="multipart",
    )
    assert hold.status_code == 200 and "A hold ends today or later." in hold.content.decode()
    assert "This client was erased" in hold.content.decode()  # both errors at once


def test_the_retention_job_deletes_old_decisions_that_had_a_webhook_delivery() -> None:
    """A delivery has no retention of its own: it pinned its decision (and so the client's data) for ever."""
    from scoring.models import DecisionWebhook, WebhookDelivery

    old = ClientFactory()
    make_history(old, transactions=0, resolved_alert=False)
    decision = Decision.objects.get(client=old)
    hook = DecisionWebhook.objects.create(caller="apikey:abc", url="https://hooks.example.test/d", secret="s" * 40)
    WebhookDelivery.objects.create(webhook=hook, decision=decision, payload={"decision_id": str(decision.pk)})
    later = timezone.now() + dt.timedelta(days=5 * 365 + 10)

    report = retention_apply(now=later)

    assert not Decision.objects.filter(pk=decision.pk).exists()
    assert not WebhookDelivery.objects.filter(decision_id=decision.pk).exists()
    assert report["deleted"]["scoring.Decision"] == 1
    assert not CreditApplication.objects.filter(client=old).exists()


def test_the_retention_job_deletes_old_batch_jobs_with_their_chunks_and_rejects() -> None:
    from scoring.models import BatchChunk, BatchJob, BatchReject, ModelVersion

    model = ModelVersion.objects.create(purpose="credit", version="v-batch", sha256="0" * 64, threshold=0.3)
    job = BatchJob.objects.create(
        source="admin", filename="seed.csv", file_format="csv", file_size=40, file_sha256="0" * 64,
        model_version=model, caller="user:0", chunk_rows=1000, chunk_count=1, chunks_done=1, status="completed",
    )  # fmt: skip
    BatchChunk.objects.create(job=job, number=0, first_row=2, last_row=3, row_count=2, status="done")
    BatchReject.objects.create(job=job, row=3, errors={"age": "Required."})

    report = retention_apply(now=timezone.now() + dt.timedelta(days=5 * 365 + 10))

    assert not BatchJob.objects.filter(pk=job.pk).exists()
    assert report["deleted"]["scoring.BatchJob"] == 1


def test_the_retention_job_scrubs_the_admin_log_of_the_records_it_deletes(
    client_as: Callable[[str | None], Any], officers: tuple[Any, Any], settings: Any
) -> None:
    """The admin's log names a record by its str() (an application's external id). Once the retention
    job deleted the record, an erasure no longer finds the log entry through it: the id stayed for ever."""
    from django.contrib.admin.models import LogEntry

    settings.RETENTION_CLIENT_IDLE_DAYS = 10 * 365  # the person stays, to be erased below

    person = ClientFactory(client_id="C7301")
    added = client_as("analyst").post(
        "/admin/scoring/creditapplication/add/",
        {
            "client": person.pk, "application_id": "APP-ZQX-7301", "amount": "12000", "duration_months": "48",
            "purpose": "car", "declared_income": "38000", "age": "41", "status": "received", "extra": "{}",
        },
        format="multipart",
    )  # fmt: skip
    assert added.status_code == 302
    assert LogEntry.objects.filter(object_repr="APP-ZQX-7301").exists()

    report = retention_apply(now=timezone.now() + dt.timedelta(days=5 * 365 + 10))
    assert not CreditApplication.objects.filter(application_id="APP-ZQX-7301").exists()
    assert not LogEntry.objects.filter(object_repr__contains="ZQX").exists()
    assert LogEntry.objects.filter(object_repr="[erased]", user__username="analyst-user").count() == 1  # who: kept
    assert report["admin_log_entries_scrubbed"] == 1

    # The person's erasure later has nothing left to find there either.
    request = gdpr_request_record(kind="erasure", client=person, by=officers[0])
    gdpr_request_approve(request=request, by=officers[1], enqueue=False)
    from privacy.services import erasure_execute

    assert erasure_execute(request=request).done
    assert not LogEntry.objects.filter(object_repr__contains="7301").exists()


def test_an_outcome_imported_later_does_not_keep_its_decision_past_the_period() -> None:
    """An outcome completes its decision record and goes with it: counted from its own import
    (a 24-month horizon comes two years later), it kept the decision years past its period."""
    import uuid

    from governance.models import Outcome

    person = ClientFactory()
    make_history(person, transactions=0, resolved_alert=False)
    decision = Decision.objects.get(client=person)
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - dt.timedelta(days=5 * 365 + 10))
    Outcome.objects.create(
        decision=decision, defaulted=False, observed_on=dt.date.today() - dt.timedelta(days=3 * 365),
        horizon_months=24, source="api", caller="apikey:abc", import_id=uuid.uuid4(),
    )  # fmt: skip  # imported today, about a decision of five years ago

    report = retention_apply()

    assert not Decision.objects.filter(pk=decision.pk).exists()
    assert not Outcome.objects.filter(decision_id=decision.pk).exists()
    assert report["deleted"]["governance.Outcome"] == 1


def test_the_call_log_rows_of_another_callers_same_reference_are_neither_exported_nor_erased(
    person: Any, officers: tuple[Any, Any]
) -> None:
    """Transaction ids and Idempotency-Keys belong to their caller: another caller may use the same
    reference for another client. Its calls, logged under that reference as their X-Request-ID,
    are not the person's: exporting them would show another client's calls (when, which route,
    the outcome), and erasing them would rewrite that client's log."""
    txn = Transaction.objects.filter(client=person).order_by("pk").first()
    assert txn is not None
    Transaction.objects.filter(pk=txn.pk).update(submitted_by="apikey:mine")  # sent by a caller, not imported
    txn.refresh_from_db()
    mine = ApiCall.objects.create(
        request_id=txn.transaction_id, caller=txn.submitted_by, method="POST", endpoint="/api/v1/fraude",
        status_code=201, latency_ms=1,
    )  # fmt: skip
    other = ClientFactory(client_id="C7999")
    TransactionFactory(client=other, transaction_id=txn.transaction_id, submitted_by="apikey:another")
    theirs = ApiCall.objects.create(
        request_id=txn.transaction_id, caller="apikey:another", method="POST", endpoint="/api/v1/fraude",
        status_code=403, latency_ms=1,
    )  # fmt: skip
    request = gdpr_request_record(kind="access", client=person, by=officers[0])
    gdpr_request_approve(request=request, by=officers[0])
    body, _ = access_export(request=request, by=officers[1])
    calls = {t["table"]: t for t in json.loads(body)["tables"]}["monitoring.ApiCall"]["rows"]
    assert [row["status_code"] for row in calls] == [201]

    erasure = gdpr_request_record(kind="erasure", client=person, by=officers[0])
    gdpr_request_approve(request=erasure, by=officers[1], enqueue=False)
    from privacy.services import erasure_execute

    assert erasure_execute(request=erasure).done
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.request_id.startswith("erased-") and theirs.request_id == txn.transaction_id


def test_the_retention_job_deletes_a_live_client_once_nothing_refers_to_them_and_they_were_idle(
    settings: Any,
) -> None:
    """Storage limitation: a client outlives their records only ``RETENTION_CLIENT_IDLE_DAYS``."""
    settings.RETENTION_CLIENT_IDLE_DAYS = 730
    gone = ClientFactory(client_id="C-IDLE-GONE", last_name="Zqxidle")
    make_history(gone, days_ago=6 * 365)  # every record past its own period
    never_used = ClientFactory(client_id="C-IDLE-NEVER")  # loaded by the bank, never scored
    updated = ClientFactory(client_id="C-IDLE-UPDATED")  # no record, but the bank updated them lately
    with_records = ClientFactory(client_id="C-IDLE-RECORDS")
    make_history(with_records, days_ago=400)  # a decision and transactions still kept
    long_ago = timezone.now() - dt.timedelta(days=6 * 365)
    Client.objects.filter(pk__in=[gone.pk, never_used.pk, with_records.pk]).update(
        created_at=long_ago, updated_at=long_ago
    )
    Decision.objects.filter(client=gone).update(created_at=long_ago)
    CreditApplication.objects.filter(client=gone).update(created_at=long_ago)
    Client.objects.filter(pk=updated.pk).update(created_at=long_ago, updated_at=timezone.now() - dt.timedelta(days=100))

    report = retention_apply()

    assert set(Client.objects.values_list("client_id", flat=True)) >= {"C-IDLE-UPDATED", "C-IDLE-RECORDS"}
    assert not Client.objects.filter(client_id__in=["C-IDLE-GONE", "C-IDLE-NEVER"]).exists()
    assert not Client.objects.filter(last_name="Zqxidle").exists()
    assert report["deleted"]["scoring.Client"] == 2
    assert not Decision.objects.filter(client_id=gone.pk).exists()


def test_an_idle_client_with_an_open_gdpr_request_is_kept_for_it(officers: tuple[Any, Any], settings: Any) -> None:
    """A request for the person points at them: the client stays until the request is answered and expires."""
    settings.RETENTION_CLIENT_IDLE_DAYS = 30
    waiting = ClientFactory(client_id="C-IDLE-REQUEST")
    request = gdpr_request_record(kind="access", client=waiting, by=officers[0])
    Client.objects.filter(pk=waiting.pk).update(updated_at=timezone.now() - dt.timedelta(days=365))

    retention_apply()

    assert Client.objects.filter(pk=waiting.pk).exists()
    request.refresh_from_db()
    assert request.client_id == waiting.pk
