"""Erasure: the map applied to one person, the workflow around it, the certificate."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from fraud.models import FraudAlert, FraudCheck, Transaction
from privacy.models import GdprRequest, RequestStatus
from privacy.services import (
    certificate_download,
    erasure_execute,
    gdpr_request_approve,
    gdpr_request_record,
    gdpr_request_reject,
    legal_hold_place,
    legal_hold_release,
)
from scoring.models import Client, CreditApplication, Decision
from tests.factories import ClientFactory, UserFactory
from tests.privacy.conftest import make_history

pytestmark = pytest.mark.django_db

IDENTIFIERS = ["C7001", "Camille", "Zqxmartin", "camille.zqx@example.test", "+33 6 99 88 77 66", "rue Zqx"]


def _erase(person: Any, officers: tuple[Any, Any]) -> Any:
    """Record, approve; the erasure job is queued at commit and runs (eager Celery in unit tests)."""
    from django.test import TestCase

    recorder, approver = officers
    request = gdpr_request_record(kind="erasure", client=person, by=recorder, details="Letter of 2 May")
    with TestCase.captureOnCommitCallbacks(execute=True):
        approved = gdpr_request_approve(request=request, by=approver)
    approved.refresh_from_db()
    return approved


def test_an_erasure_is_approved_by_another_officer_than_its_recorder(person: Any, officers: tuple[Any, Any]) -> None:
    recorder, _ = officers
    request = gdpr_request_record(kind="erasure", client=person, by=recorder)
    with pytest.raises(ValidationError, match="Four eyes"):
        gdpr_request_approve(request=request, by=recorder)
    request.refresh_from_db()
    assert request.status == RequestStatus.RECEIVED
    assert Client.objects.get(pk=person.pk).last_name == "Zqxmartin"


def test_the_database_refuses_an_erasure_approved_by_its_recorder(person: Any, officers: tuple[Any, Any]) -> None:
    from django.db import IntegrityError, transaction

    recorder, _ = officers
    request = gdpr_request_record(kind="erasure", client=person, by=recorder)
    with pytest.raises(IntegrityError), transaction.atomic():
        GdprRequest.objects.filter(pk=request.pk).update(status="approved", approved_by=recorder)


def test_an_access_request_may_be_approved_by_its_recorder(person: Any, officers: tuple[Any, Any]) -> None:
    recorder, _ = officers
    request = gdpr_request_record(kind="access", client=person, by=recorder)
    assert gdpr_request_approve(request=request, by=recorder).status == RequestStatus.APPROVED


def test_a_request_is_due_thirty_days_after_receipt(person: Any, officers: tuple[Any, Any]) -> None:
    received = timezone.now() - dt.timedelta(days=3)
    request = gdpr_request_record(kind="access", client=person, by=officers[0], received_at=received)
    assert request.due_at == received + dt.timedelta(days=30)


@pytest.mark.parametrize("role", ["analyst", "viewer", "admin"])
def test_only_compliance_records_and_approves_requests(person: Any, officers: tuple[Any, Any], role: str) -> None:
    someone = UserFactory(username=f"{role}-x", roles=[role])
    with pytest.raises(PermissionDenied):
        gdpr_request_record(kind="erasure", client=person, by=someone)
    request = gdpr_request_record(kind="erasure", client=person, by=officers[0])
    with pytest.raises(PermissionDenied):
        gdpr_request_approve(request=request, by=someone)


def test_a_rejected_request_keeps_its_reason_and_erases_nothing(person: Any, officers: tuple[Any, Any]) -> None:
    request = gdpr_request_record(kind="erasure", client=person, by=officers[0])
    with pytest.raises(ValidationError):
        gdpr_request_reject(request=request, by=officers[1], reason="  ")
    rejected = gdpr_request_reject(request=request, by=officers[1], reason="Identity could not be verified.")
    assert rejected.status == RequestStatus.REJECTED
    with pytest.raises(ValidationError):
        gdpr_request_approve(request=rejected, by=officers[1])
    assert Client.objects.get(pk=person.pk).email == "camille.zqx@example.test"


def test_erasure_empties_the_identity_and_keeps_legal_records_pseudonymised(
    person: Any, officers: tuple[Any, Any]
) -> None:
    request = _erase(person, officers)
    request.refresh_from_db()
    assert request.status == RequestStatus.DONE
    assert request.client is None and request.details == ""

    tombstone = Client.objects.get(pk=person.pk)
    assert tombstone.client_id.startswith("erased-") and tombstone.erased_at is not None
    assert (tombstone.first_name, tombstone.last_name, tombstone.email, tombstone.phone, tombstone.address) == (
        "",
        "",
        "",
        "",
        "",
    )
    assert tombstone.birth_date is None

    # AML: transactions kept, references replaced; one beneficiary keeps one token.
    transactions = list(Transaction.objects.filter(client=tombstone))
    assert len(transactions) == 4
    assert all(t.transaction_id.startswith("erased-") for t in transactions)
    beneficiaries = {t.beneficiary for t in transactions if t.beneficiary}
    assert len(beneficiaries) == 2 and all(b.startswith("erased-") for b in beneficiaries)
    assert {t.device_id for t in transactions if t.device_id} != {"device-C7001"}
    assert FraudCheck.objects.filter(transaction__client=tombstone).count() == 4
    assert FraudAlert.objects.get(fraud_check__transaction__client=tombstone).resolution_comment == "[erased]"

    # Decision records kept, inputs stripped of identifiers; the undecided application is gone.
    decision = Decision.objects.get(client=tombstone)
    assert "client_id" not in decision.features and decision.features["age"] == 41
    assert decision.idempotency_key is None and decision.request_hash == ""
    applications = CreditApplication.objects.filter(client=tombstone)
    assert [a.application_id for a in applications] == [None]


def test_the_certificate_says_what_was_kept_and_why_without_personal_data(
    person: Any, officers: tuple[Any, Any]
) -> None:
    request = _erase(person, officers)
    body, filename = certificate_download(request=request, by=officers[0])
    text = body.decode()
    assert filename == f"erasure-certificate-{request.pk}.json"
    for value in IDENTIFIERS:
        assert value not in text
    assert "erased-" not in text  # the tokens themselves stay out: the certificate goes to the person
    document = json.loads(text)
    tables = {t["table"]: t for t in document["tables"]}
    assert tables["fraud.Transaction"]["kept_pseudonymised"] == 4
    assert "2015/849" in tables["fraud.Transaction"]["why_kept"]
    assert tables["scoring.CreditApplication"]["deleted"] == 1
    assert document["request"]["recorded_by"] == "officer-a"
    assert document["request"]["approved_by"] == "officer-b"
    assert document["kept"]["retention"], "the retention duties that limited the erasure are listed"


def test_every_gdpr_step_is_in_the_audit_trail_without_personal_data(person: Any, officers: tuple[Any, Any]) -> None:
    request = _erase(person, officers)
    certificate_download(request=request, by=officers[1])
    events = AuditEvent.objects.filter(target_type="privacy.gdprrequest", target_id=str(request.pk)).order_by("seq")
    assert [e.action for e in events] == [
        "privacy.erasure.recorded",
        "privacy.erasure.approved",
        "privacy.erasure.executed",
        "privacy.certificate.downloaded",
    ]
    assert events[2].actor == "system:erasure-job"
    trail = json.dumps(list(AuditEvent.objects.values()), default=str)
    for value in IDENTIFIERS:
        assert value not in trail


def test_an_open_fraud_alert_defers_the_erasure_until_it_is_resolved(officers: tuple[Any, Any]) -> None:
    from fraud.services import fraud_alert_resolve, fraud_alert_take
    from tests.factories import FraudAlertFactory, FraudCheckFactory, TransactionFactory

    client = ClientFactory(last_name="Heldperson")
    alert = FraudAlertFactory(fraud_check=FraudCheckFactory(transaction=TransactionFactory(client=client)))
    request = _erase(client, officers)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert [h["kind"] for h in request.holds if h["effect"] == "defers"] == ["fraud_alert"]
    assert f"#{alert.pk}" in request.holds[0]["detail"] and request.holds[0]["until"] is None
    assert Client.objects.get(pk=client.pk).last_name == "Heldperson"

    analyst = UserFactory(username="analyst-h", roles=["analyst"])
    fraud_alert_take(alert=alert, user=analyst)
    fraud_alert_resolve(alert=alert, user=analyst, resolution="false_positive", comment="Checked.")
    assert erasure_execute(request=request).done
    assert Client.objects.get(pk=client.pk).last_name == ""


def test_a_legal_hold_defers_the_erasure_and_shows_until_when(officers: tuple[Any, Any]) -> None:
    client = ClientFactory(last_name="Claimant")
    until = timezone.now().date() + dt.timedelta(days=90)
    hold = legal_hold_place(client=client, reason="legal_claim", until=until, by=officers[0], details="Case 12/2026")
    request = _erase(client, officers)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert request.holds[0]["kind"] == "legal_hold" and request.holds[0]["until"] == until.isoformat()
    legal_hold_release(hold=hold, by=officers[1])
    assert erasure_execute(request=request).done
    hold.refresh_from_db()
    assert hold.client is None and hold.details == ""


def test_records_past_their_retention_period_are_deleted_not_kept(officers: tuple[Any, Any], settings: Any) -> None:
    client = ClientFactory()
    make_history(client, days_ago=400, resolved_alert=False)
    settings.RETENTION_TRANSACTION_DAYS = 365
    _erase(client, officers)
    assert not Transaction.objects.filter(client_id=client.pk).exists()
    assert Decision.objects.filter(client_id=client.pk).count() == 1  # 5 years for decisions


def test_a_client_with_nothing_to_keep_is_deleted_outright(officers: tuple[Any, Any]) -> None:
    client = ClientFactory()
    request = _erase(client, officers)
    assert not Client.objects.filter(pk=client.pk).exists()
    request.refresh_from_db()
    tables = {t["table"]: t for t in request.certificate.document["tables"]}
    assert (tables["scoring.Client"]["deleted"], tables["scoring.Client"]["kept_pseudonymised"]) == (1, 0)


def test_running_an_erasure_twice_changes_nothing_the_second_time(person: Any, officers: tuple[Any, Any]) -> None:
    request = _erase(person, officers)
    before = (AuditEvent.objects.count(), Client.objects.get(pk=person.pk).client_id)
    assert erasure_execute(request=request).done
    assert (AuditEvent.objects.count(), Client.objects.get(pk=person.pk).client_id) == before


def test_other_open_requests_of_the_person_are_closed_by_the_erasure(person: Any, officers: tuple[Any, Any]) -> None:
    access = gdpr_request_record(kind="access", client=person, by=officers[0])
    _erase(person, officers)
    access.refresh_from_db()
    assert access.status == RequestStatus.REJECTED and access.client is None
    assert "erased" in access.rejection_reason


def test_the_command_records_approves_and_executes_under_named_officers(
    person: Any, officers: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command(
        "gdpr_erase", "C7001", "--reason", "Letter 2026-05-02", "--operator", "officer-a", "--approver", "officer-b"
    )
    out = capsys.readouterr().out
    assert "done" in out and "kept pseudonymised" in out
    request = GdprRequest.objects.get()
    assert (request.recorded_by.username, request.approved_by.username) == ("officer-a", "officer-b")
    assert request.status == RequestStatus.DONE
    assert not Client.objects.filter(client_id="C7001").exists()


def _nothing_of_the_run_stays(person: Any, events_before: int) -> None:
    """A refused or failed ``gdpr_erase``: no request, no audit event of it, the person untouched."""
    assert not GdprRequest.objects.exists()
    assert AuditEvent.objects.count() == events_before
    assert not AuditEvent.objects.filter(action__startswith="privacy.").exists()
    assert audit_chain_verify().ok
    assert Client.objects.get(pk=person.pk).last_name == "Zqxmartin"


def test_the_command_keeps_four_eyes_and_refuses_unknown_clients(person: Any, officers: tuple[Any, Any]) -> None:
    before = AuditEvent.objects.count()
    with pytest.raises(CommandError, match="Four eyes"):
        call_command("gdpr_erase", "C7001", "--reason", "x", "--operator", "officer-a", "--approver", "officer-a")
    _nothing_of_the_run_stays(person, before)  # not a request left "received"
    with pytest.raises(CommandError, match="No client"):
        call_command("gdpr_erase", "C0000", "--reason", "x", "--operator", "officer-a", "--approver", "officer-b")
    _nothing_of_the_run_stays(person, before)


def test_a_command_approved_by_someone_who_may_not_approve_leaves_no_request(
    person: Any, officers: tuple[Any, Any]
) -> None:
    UserFactory(username="analyst-c", roles=["analyst"])
    before = AuditEvent.objects.count()
    with pytest.raises(CommandError, match="does not allow you to approve"):
        call_command("gdpr_erase", "C7001", "--reason", "x", "--operator", "officer-a", "--approver", "analyst-c")
    _nothing_of_the_run_stays(person, before)


def test_an_erasure_that_fails_in_the_command_leaves_no_request_behind(
    person: Any, officers: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from privacy import services

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the erasure engine failed")

    monkeypatch.setattr(services, "client_erase", broken)
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError, match="engine failed"):
        call_command("gdpr_erase", "C7001", "--reason", "x", "--operator", "officer-a", "--approver", "officer-b")
    _nothing_of_the_run_stays(person, before)
    # Once the engine works again, the same command erases the person (no pending request in the way).
    monkeypatch.undo()
    call_command("gdpr_erase", "C7001", "--reason", "x", "--operator", "officer-a", "--approver", "officer-b")
    assert GdprRequest.objects.get().status == RequestStatus.DONE
    assert audit_chain_verify().ok


def test_a_command_deferred_by_a_legal_hold_keeps_its_approved_request_and_its_trail(
    person: Any, officers: tuple[Any, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    legal_hold_place(client=person, reason="legal_claim", by=officers[0], details="Case 12/2026")
    call_command("gdpr_erase", "C7001", "--reason", "x", "--operator", "officer-a", "--approver", "officer-b")
    assert "deferred by a legal hold" in capsys.readouterr().out
    request = GdprRequest.objects.get()
    assert request.status == RequestStatus.APPROVED  # runs by itself once the hold is gone
    trail = AuditEvent.objects.filter(target_id=str(request.pk)).order_by("seq")
    assert list(trail.values_list("action", flat=True)) == [
        "privacy.erasure.recorded",
        "privacy.erasure.approved",
        "privacy.erasure.deferred",
    ]
    assert Client.objects.get(pk=person.pk).last_name == "Zqxmartin"


def test_call_log_request_ids_that_repeat_the_persons_ids_are_exported_then_replaced(
    person: Any, officers: tuple[Any, Any]
) -> None:
    """A caller may send its own reference (a transaction id, an idempotency key...) as X-Request-ID:
    the call log then names the person by an id the erasure replaces everywhere else."""
    from monitoring.models import ApiCall
    from privacy.selectors import client_export_document

    def call(request_id: str, caller: str = "apikey:a") -> ApiCall:
        return ApiCall.objects.create(
            request_id=request_id, method="POST", endpoint="/fraude", status_code=201, latency_ms=3.0, caller=caller
        )

    # The transactions are imported history (no caller: any call counts); the idempotency key is
    # the decision's caller's (apikey:abc): only its calls count.
    theirs = [call("TX-C7001-0"), call("TX-C7001-0"), call("idem-C7001", "apikey:abc"), call("APP-C7001")]
    others = [call(i) for i in ("0f8c2d4e-1b3a-4c5d-9e6f-7a8b9c0d1e2f", "TX-C7002-0", "idem-C7001")]
    exported = {t["table"]: t for t in client_export_document(client=person)["tables"]}
    assert sorted(r["request_id"] for r in exported["monitoring.ApiCall"]["rows"]) == sorted(
        ["TX-C7001-0", "TX-C7001-0", "idem-C7001", "APP-C7001"]
    )

    _erase(person, officers)
    after = {c.pk: c for c in ApiCall.objects.all()}
    assert [after[c.pk].request_id for c in theirs] == [f"erased-{c.pk}" for c in theirs]
    assert all((after[c.pk].endpoint, after[c.pk].status_code) == ("/fraude", 201) for c in theirs)
    assert [after[c.pk].request_id for c in others] == [c.request_id for c in others]


def test_erasure_keeps_a_refusals_reason_codes_and_redacts_the_underwriters_words(
    person: Any, officers: tuple[Any, Any]
) -> None:
    """The codes are the kept decision record (its notice still lists them); the justification is free text."""
    from scoring.models import ReviewCase
    from scoring.notices import decision_notice
    from scoring.review.services import review_case_close, review_case_open_override

    decision = Decision.objects.get(client=person)
    analyst = UserFactory(username="underwriter-u", roles=["analyst"])
    case = review_case_open_override(decision=decision, user=analyst, note="Camille's payslip looks forged.")
    review_case_close(
        case=case,
        user=analyst,
        final_decision="refuse",
        justification="Called Zqxmartin's employer: no such payslip.",
        refusal_reasons=["U05", "U02"],
    )
    _erase(person, officers)
    case = ReviewCase.objects.get(pk=case.pk)
    assert (case.justification, case.opening_note) == ("[erased]", "[erased]")
    assert case.refusal_reasons == ["U05", "U02"]
    notice = decision_notice(decision=Decision.objects.get(pk=decision.pk))
    assert [r["code"] for r in notice["reasons"]] == ["U05", "U02"]


def test_an_earlier_request_of_the_person_keeps_no_number_of_a_kept_record_in_its_holds(
    officers: tuple[Any, Any],
) -> None:
    """A request deferred by a fraud alert stored "Fraud alert #N" in its holds. Once the person is
    erased (by that request or a later one, which then closes it), the request is kept without a
    link to the person, but the alert's number led from it to the kept transaction, and through
    the anonymous client to every kept record: a person knowing their request's number could be
    linked to them again. The certificate leaves even the tokens out for that reason."""
    from fraud.services import fraud_alert_resolve, fraud_alert_take
    from tests.factories import FraudAlertFactory, FraudCheckFactory, TransactionFactory

    client = ClientFactory(last_name="Heldtwice")
    alert = FraudAlertFactory(fraud_check=FraudCheckFactory(transaction=TransactionFactory(client=client)))
    first = _erase(client, officers)
    first.refresh_from_db()
    assert first.status == RequestStatus.APPROVED and f"#{alert.pk}" in first.holds[0]["detail"]
    analyst = UserFactory(username="analyst-h2", roles=["analyst"])
    fraud_alert_take(alert=alert, user=analyst)
    fraud_alert_resolve(alert=alert, user=analyst, resolution="false_positive", comment="Checked.")
    second = _erase(client, officers)  # the person wrote again; this one runs and closes the first
    assert GdprRequest.objects.get(pk=second.pk).status == RequestStatus.DONE
    first.refresh_from_db()
    assert first.status == RequestStatus.REJECTED and first.client is None
    assert "fraud_alert" in [h["kind"] for h in first.holds]  # what held it back stays known
    assert f"#{alert.pk}" not in str(first.holds)
