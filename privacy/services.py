"""Writes of the privacy domain: GDPR requests, legal holds, erasure, access export, retention.

Every step is one transaction and leaves one audit event naming the request (never the
client: the trail is kept for ever and must not point at a person who was erased).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import audit_record
from creditplatform.retention import Rows
from privacy.erasure import ErasureOutcome, client_erase, subject_rows
from privacy.models import (
    OPEN_STATUSES,
    ErasureCertificate,
    GdprRequest,
    HoldReason,
    LegalHold,
    RequestKind,
    RequestStatus,
)
from privacy.retention_map import tables_about_clients, tables_with_payloads
from scoring.choices import REVIEW_ENDED
from scoring.models import Client, ReviewCase
from scoring.review.services import review_cases_withdraw
from scoring.services import client_change_check

ADD = "privacy.add_gdprrequest"
APPROVE = "privacy.approve_gdprrequest"
WORK = "privacy.change_gdprrequest"
HOLD = "privacy.add_legalhold"
ERASURE_JOB = "system:erasure-job"


def _require(user: User | None, perm: str, what: str) -> None:
    if user is None or not getattr(user, "is_active", False) or not user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow you to {what}.")


def _locked(request: GdprRequest) -> GdprRequest:
    return GdprRequest.objects.select_for_update().get(pk=request.pk)


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, cls=DjangoJSONEncoder, indent=2, sort_keys=True, ensure_ascii=False).encode()


# --- Recording, approving, rejecting ---------------------------------------------------------


def gdpr_request_record(
    *, kind: str, client: Client, by: User, received_at: datetime | None = None, details: str = ""
) -> GdprRequest:
    """Record a person's request; it is due ``GDPR_RESPONSE_DAYS`` after receipt."""
    _require(by, ADD, "record GDPR requests")
    received_at = received_at or timezone.now()
    gdpr_request_check(kind=kind, client=client, received_at=received_at)
    with transaction.atomic():
        # The client as committed, locked before anything else (the erasure's order: client, then
        # the audit chain): an erasure in progress is waited for, then refuses this request.
        client = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
        gdpr_request_check(kind=kind, client=client, received_at=received_at)
        request = GdprRequest.objects.create(
            kind=kind,
            client=client,
            received_at=received_at,
            due_at=received_at + timedelta(days=settings.GDPR_RESPONSE_DAYS),
            details=details.strip()[:2000],
            recorded_by=by,
        )
        audit_record(
            actor=by,
            action=f"privacy.{kind}.recorded",
            target=request,
            details={"received_at": received_at.isoformat(), "due_at": request.due_at.isoformat()},
        )
    return request


def gdpr_request_check(*, kind: str, client: Client | None, received_at: datetime | None) -> None:
    """The rules of a new request (the admin form shows the same errors); raises ``ValidationError``."""
    errors = {}
    if kind not in RequestKind.values:
        errors["kind"] = f"Choose one of: {', '.join(RequestKind.values)}."
    if received_at is not None and received_at > timezone.now() + timedelta(minutes=5):
        errors["received_at"] = "A request cannot be received in the future."
    if client is not None and client.erased_at is not None:
        errors["client"] = "This client was erased: nothing is held about the person any more."
    if errors:
        raise ValidationError(errors)


def gdpr_request_approve(*, request: GdprRequest, by: User, enqueue: bool = True) -> GdprRequest:
    """Approve a received request. An erasure needs a second officer (four eyes) and then runs as a job."""
    _require(by, APPROVE, "approve GDPR requests")
    with transaction.atomic():
        locked = _locked(request)
        if locked.status != RequestStatus.RECEIVED:
            raise ValidationError({"status": f"Only a received request is approved (this one is {locked.status})."})
        if locked.kind == RequestKind.ERASURE and locked.recorded_by_id == by.pk:
            raise ValidationError(
                {"approved_by": "Four eyes: an erasure is approved by another officer than the one who recorded it."}
            )
        locked.status = RequestStatus.APPROVED
        locked.approved_by = by
        locked.approved_at = timezone.now()
        if locked.kind == RequestKind.ERASURE and locked.client is not None:
            locked.holds = [asdict(h) for h in erasure_holds(client=locked.client)]
        locked.save(update_fields=["status", "approved_by", "approved_at", "holds"])
        audit_record(
            actor=by,
            action=f"privacy.{locked.kind}.approved",
            target=locked,
            details={"holds": [h["kind"] for h in locked.holds]},
        )
        if locked.kind == RequestKind.ERASURE and enqueue:
            from privacy.tasks import erasure_run

            pk = locked.pk
            transaction.on_commit(lambda: erasure_run.delay(pk))
    return locked


def gdpr_request_reject(*, request: GdprRequest, by: User, reason: str) -> GdprRequest:
    """Reject a received (or approved but not yet done) request, with the reason given to the person."""
    _require(by, APPROVE, "reject GDPR requests")
    if not reason.strip():
        raise ValidationError({"rejection_reason": "Give the reason the person will be told."})
    with transaction.atomic():
        locked = _locked(request)
        if locked.status not in OPEN_STATUSES:
            raise ValidationError({"status": f"This request is already {locked.status}."})
        locked.status = RequestStatus.REJECTED
        locked.rejected_by = by
        locked.rejected_at = timezone.now()
        locked.rejection_reason = reason.strip()[:2000]
        locked.save(update_fields=["status", "rejected_by", "rejected_at", "rejection_reason"])
        audit_record(actor=by, action=f"privacy.{locked.kind}.rejected", target=locked)
    return locked


# --- Legal holds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """Why an erasure waits (``defers``) or keeps some records (``limits``), and until when."""

    kind: str
    effect: str  # "defers" | "limits"
    detail: str
    until: str | None  # ISO date; None: until resolved or released


def erasure_holds(*, client: Client, now: datetime | None = None) -> list[Hold]:
    """The legal holds on erasing ``client`` now: open fraud alerts and manual holds defer it;
    retention duties (the map's retention periods) limit it to pseudonymisation of some records."""
    from fraud.models import FraudAlert

    now = now or timezone.now()
    holds: list[Hold] = []
    alerts = FraudAlert.objects.filter(fraud_check__transaction__client=client, status__in=["open", "assigned"])
    for alert in alerts.order_by("pk"):
        holds.append(
            Hold(
                "fraud_alert",
                "defers",
                f"Fraud alert #{alert.pk} is {alert.status}: the erasure waits until it is resolved "
                "(Art. 17(3)(b), AML investigation).",
                None,
            )
        )
    manual = LegalHold.objects.filter(client=client, released_at__isnull=True).exclude(until__lt=now.date())
    for hold in manual.order_by("pk"):
        holds.append(
            Hold(
                "legal_hold",
                "defers",
                f"Legal hold #{hold.pk}: {hold.get_reason_display()}.",
                hold.until.isoformat() if hold.until else None,
            )
        )
    for table in tables_with_payloads():  # e.g. a batch chunk naming the person being scored right now
        for detail in table.payload.holds(client):
            holds.append(Hold("in_flight", "defers", detail, None))
    cases = ReviewCase.objects.filter(decision__client=client).exclude(status__in=REVIEW_ENDED).count()
    if cases:  # not a hold: the erasure ends the application under review (counted: no id leads back)
        holds.append(
            Hold(
                "review_case",
                "withdraws",
                f"{cases} credit review case{'s' if cases > 1 else ''} not yet decided: the erasure withdraws "
                f"{'them' if cases > 1 else 'it'} (no decision taken, a proposal awaiting approval dropped).",
                None,
            )
        )
    for table in tables_about_clients():
        spec, days = table.spec, table.retention_days()
        if spec.rows is not Rows.PSEUDONYMISE or spec.retention is None or not days or not spec.limits_erasure:
            continue
        rows = subject_rows(table, client).filter(**{f"{spec.retention.date_field}__gte": now - timedelta(days=days)})
        newest = rows.aggregate(newest=Max(spec.retention.date_field))["newest"]
        if newest is not None:
            until = (newest + timedelta(days=days)).date().isoformat()
            count = rows.count()
            meta = table.model._meta
            holds.append(
                Hold(
                    "retention",
                    "limits",
                    f"{count} {meta.verbose_name if count == 1 else meta.verbose_name_plural} kept pseudonymised: "
                    f"{spec.retention.basis}.",
                    until,
                )
            )
    return holds


def legal_hold_check(*, reason: str, until: date | None, client: Client | None = None) -> None:
    """The rules of a new hold (the admin form shows the same errors); raises ``ValidationError``.

    An erased client takes none (``client_change_check``): its free-text details would sit on a
    person no GDPR request can reach any more, and there is no erasure left for it to hold back."""
    errors: dict[str, Any] = {}
    try:
        client_change_check(client=client)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if reason not in HoldReason.values:
        errors["reason"] = f"Choose one of: {', '.join(HoldReason.values)}."
    if until is not None and until < timezone.now().date():
        errors["until"] = "A hold ends today or later."
    if errors:
        raise ValidationError(errors)  # all of them at once, as a form shows them


def legal_hold_place(
    *, client: Client, reason: str, by: User, until: date | None = None, details: str = ""
) -> LegalHold:
    """Place a hold on a client's data: erasures wait until it is released or its date passes."""
    _require(by, HOLD, "place legal holds")
    with transaction.atomic():
        client = Client.objects.select_for_update().get(pk=client.pk)  # not erased meanwhile
        legal_hold_check(reason=reason, until=until, client=client)
        hold = LegalHold.objects.create(
            client=client, reason=reason, until=until, details=details.strip()[:2000], placed_by=by
        )
        audit_record(
            actor=by,
            action="privacy.hold.placed",
            target=hold,
            details={"reason": reason, "until": until.isoformat() if until else None},
        )
    return hold


def legal_hold_release(*, hold: LegalHold, by: User) -> LegalHold:
    """Release a hold; deferred erasures run at the next nightly retention run (or at once from the admin)."""
    _require(by, "privacy.change_legalhold", "release legal holds")
    with transaction.atomic():
        locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
        if locked.released_at is None:
            locked.released_at, locked.released_by = timezone.now(), by
            locked.save(update_fields=["released_at", "released_by"])
            audit_record(actor=by, action="privacy.hold.released", target=locked)
    return locked


# --- Erasure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureResult:
    request: GdprRequest
    done: bool
    certificate: ErasureCertificate | None = None


def erasure_execute(*, request: GdprRequest, actor: User | str = ERASURE_JOB) -> ErasureResult:
    """Erase the person of an approved erasure request, unless a legal hold defers it.

    One transaction: the data is erased, the request unlinked from the person and closed,
    the certificate stored and the step audited together, or nothing happens. Running it
    again on a done request changes nothing.
    """
    started = time.perf_counter()
    with transaction.atomic():
        locked = _locked(request)
        if locked.kind != RequestKind.ERASURE:
            raise ValidationError({"kind": "Only an erasure request is executed."})
        if locked.status == RequestStatus.DONE:
            return ErasureResult(locked, True, getattr(locked, "certificate", None))
        if locked.status != RequestStatus.APPROVED:
            raise ValidationError({"status": f"Only an approved request is executed (this one is {locked.status})."})
        if locked.client_id is None:
            raise ValidationError({"client": "This request names no client."})
        client = Client.objects.select_for_update().get(pk=locked.client_id)
        now = timezone.now()
        holds = erasure_holds(client=client, now=now)
        locked.holds = [asdict(h) for h in holds]
        locked.last_attempt_at = now
        deferring = [h for h in holds if h.effect == "defers"]
        if deferring:
            locked.save(update_fields=["holds", "last_attempt_at"])
            audit_record(
                actor=actor,
                action="privacy.erasure.deferred",
                target=locked,
                details={"holds": [h.kind for h in deferring]},
            )
            return ErasureResult(locked, False)

        # Other open requests of the person cannot be answered once the data is gone.
        superseded = list(
            GdprRequest.objects.select_for_update()
            .filter(client=client, status__in=OPEN_STATUSES)
            .exclude(pk=locked.pk)
            .values_list("pk", flat=True)
        )
        GdprRequest.objects.filter(pk__in=superseded).update(
            status=RequestStatus.REJECTED,
            rejected_at=now,
            rejection_reason=f"The person's data was erased (request #{locked.pk}).",
        )
        # Their holds named records by number ("Fraud alert #12"): once unlinked from the person,
        # a request must not lead to the kept records (its number is known to the person).
        for other in GdprRequest.objects.filter(client=client).exclude(pk=locked.pk).exclude(holds=[]):
            other.holds = [_hold_without_reference(h) for h in other.holds]
            other.save(update_fields=["holds"])
        # Closed before the engine unlinks every request from the person.
        locked.status = RequestStatus.DONE
        locked.completed_at = now
        locked.completed_by = "erasure job" if actor == ERASURE_JOB else str(getattr(actor, "username", actor))[:150]
        locked.save(update_fields=["status", "completed_at", "completed_by", "holds", "last_attempt_at"])

        # The person's review cases still open end here, text-free: a justification written after
        # the erasure would be new free text about the person that no request reaches (docs/review.md).
        withdrawn = review_cases_withdraw(client=client, actor=actor, now=now)
        outcome = client_erase(client=client, now=now)
        outcome.finished_at = timezone.now()
        locked.refresh_from_db()
        document = json.loads(_dump(_certificate(locked, outcome, holds, time.perf_counter() - started, withdrawn)))
        body = _dump(document)
        certificate = ErasureCertificate.objects.create(
            request=locked, issued_at=outcome.finished_at, document=document, sha256=hashlib.sha256(body).hexdigest()
        )
        audit_record(
            actor=actor,
            action="privacy.erasure.executed",
            target=locked,
            details={
                "rows_deleted": outcome.deleted,
                "rows_kept_pseudonymised": outcome.kept,
                "tables": {t.table: {"deleted": t.deleted, "kept": t.kept} for t in outcome.tables},
                "superseded_requests": superseded,
                "review_cases_withdrawn": withdrawn,
                "certificate_sha256": certificate.sha256,
                "approved_by": f"user:{locked.approved_by_id}",
            },
        )
    return ErasureResult(locked, True, certificate)


def _hold_without_reference(hold: dict[str, Any]) -> dict[str, Any]:
    """A stored hold without what named a record (an alert's, a legal hold's or a batch job's
    number): kept are its kind, effect and date. Retention duties and withdrawn reviews name
    counts and dates only."""
    if hold.get("effect") in ("limits", "withdraws"):
        return hold
    return {**hold, "detail": f"{hold.get('kind', 'hold')}: its reference was removed by the person's erasure."}


def erasure_record_and_execute(*, client: Client, operator: User, approver: User, details: str = "") -> ErasureResult:
    """An erasure decided outside the admin (``gdpr_erase``): recorded under ``operator``,
    approved under ``approver`` (four eyes) and executed at once.

    One transaction: if any step is refused or fails, nothing of it stays, neither a
    request left "received" (or "approved") nor its audit events. A legal hold that defers
    the erasure is not a failure: the request stays approved, to run once the hold is gone.
    """
    with transaction.atomic():
        request = gdpr_request_record(kind=RequestKind.ERASURE, client=client, by=operator, details=details)
        gdpr_request_approve(request=request, by=approver, enqueue=False)
        return erasure_execute(request=request, actor=operator)


def _user(user: User | None) -> str | None:
    return user.get_username() if user is not None else None


def _certificate(
    request: GdprRequest, outcome: ErasureOutcome, holds: list[Hold], seconds: float, withdrawn: int
) -> dict[str, Any]:
    """The erasure certificate: what was erased, what was kept and why, counts and times. No personal data."""
    kept_tables = [t for t in outcome.tables if t.kept]
    return {
        "certificate": "GDPR erasure certificate (Art. 17)",
        "platform": "credit decision platform",
        "request": {
            "number": request.pk,
            "received_at": request.received_at,
            "due_at": request.due_at,
            "recorded_by": _user(request.recorded_by),
            "recorded_at": request.recorded_at,
            "approved_by": _user(request.approved_by),
            "approved_at": request.approved_at,
            "completed_by": request.completed_by,
        },
        "erasure": {
            "started_at": outcome.started_at,
            "finished_at": outcome.finished_at,
            "duration_seconds": round(seconds, 3),
            "rows_deleted": outcome.deleted,
            "rows_kept_pseudonymised": outcome.kept,
            "admin_log_entries_scrubbed": outcome.references_scrubbed,
            "files_deleted": outcome.files_deleted,
            "review_cases_withdrawn": withdrawn,
        },
        "tables": [t.as_dict() for t in outcome.tables],
        "kept": {
            "summary": (
                "Records the law requires the bank to keep were not deleted: they were pseudonymised. Identity and "
                "contact fields were emptied; external ids, transaction references, beneficiary accounts and device "
                "ids were replaced by random tokens; no table maps a token back to the person, and the tokens "
                "appear nowhere else (not in this certificate, not in the audit trail)."
            )
            if kept_tables
            else "Nothing was kept.",
            "retention": [asdict(h) for h in holds if h.effect == "limits"],
        },
        "backups": (
            "Database backups taken before the erasure still hold the data until they expire with the backup "
            "cycle; they are kept out of use."
        ),
    }


def certificate_download(*, request: GdprRequest, by: User) -> tuple[bytes, str]:
    """The certificate as JSON bytes (the ones its SHA-256 names); the download is audited."""
    _require(by, "privacy.view_gdprrequest", "download erasure certificates")
    certificate = ErasureCertificate.objects.filter(request=request).first()
    if certificate is None:
        raise ValidationError({"certificate": "This request has no certificate: the erasure has not run."})
    body = _dump(certificate.document)
    with transaction.atomic():
        audit_record(
            actor=by, action="privacy.certificate.downloaded", target=request, details={"sha256": certificate.sha256}
        )
    return body, f"erasure-certificate-{request.pk}.json"


# --- Access and portability ------------------------------------------------------------------


def access_export(*, request: GdprRequest, by: User) -> tuple[bytes, str]:
    """Everything held about the person as one JSON document; the first download completes the request.

    The document is built on demand, never stored (a stored copy would be one more place
    to erase); the export itself goes in the audit trail with its size and row counts.
    """
    from privacy.selectors import client_export_document

    _require(by, WORK, "export a person's data")
    with transaction.atomic():
        locked = _locked(request)
        if locked.kind != RequestKind.ACCESS:
            raise ValidationError({"kind": "Only an access request is exported."})
        if locked.status not in (RequestStatus.APPROVED, RequestStatus.DONE):
            raise ValidationError({"status": "An access request is exported once approved."})
        if locked.client is None:
            raise ValidationError({"client": "The person was erased since: nothing is held any more."})
        document = client_export_document(client=locked.client, request=locked)
        body = _dump(document)
        if locked.status == RequestStatus.APPROVED:
            locked.status = RequestStatus.DONE
            locked.completed_at = timezone.now()
            locked.completed_by = by.get_username()
            locked.save(update_fields=["status", "completed_at", "completed_by"])
        audit_record(
            actor=by,
            action="privacy.access.exported",
            target=locked,
            details={
                "bytes": len(body),
                "rows": {t["table"]: len(t["rows"]) for t in document["tables"]},
            },
        )
    return body, f"access-export-{locked.pk}.json"


def erasure_retry_deferred() -> list[int]:
    """Try again every approved erasure (a hold may have lifted); returns the ids now done."""
    done = []
    for request in GdprRequest.objects.filter(kind=RequestKind.ERASURE, status=RequestStatus.APPROVED).order_by("pk"):
        if erasure_execute(request=request).done:
            done.append(request.pk)
    return done


# --- Retention ---------------------------------------------------------------------------------


def retention_apply(*, now: datetime | None = None) -> dict[str, Any]:
    """Delete what has passed its retention period, table by table as the map says, then retry
    deferred erasures; the run is reported in the audit trail. Safe to run twice."""
    from privacy.erasure import delete_rows, scrub_references, unreferenced
    from privacy.retention_map import retention_map

    now = now or timezone.now()
    deleted: dict[str, int] = {}
    outcome = ErasureOutcome(started_at=now)
    with transaction.atomic():
        for table in retention_map():  # children first: what points at a row goes before it
            expired = table.expired(table.model._base_manager.all(), now)
            if expired is None:
                continue
            going = unreferenced(expired)
            if table.spec.subject is not None:
                # The admin's log names these records (an application's external id): once they are
                # gone, no erasure finds those entries through them any more.
                scrub_references(going, now, outcome)
            count = delete_rows(going, outcome)
            if count:
                deleted[table.label] = count
        audit_record(
            actor="system:retention",
            action="retention.applied",
            details={
                "deleted": deleted,
                "files_deleted": outcome.files_deleted,
                "admin_log_entries_scrubbed": outcome.references_scrubbed,
            },
        )
    erasures = erasure_retry_deferred()
    return {"deleted": deleted, "admin_log_entries_scrubbed": outcome.references_scrubbed, "erasures_done": erasures}
