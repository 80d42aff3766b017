"""Erasure completeness on PostgreSQL: one person through every flow, erased, then searched for everywhere.

The person's identifiers (external id, names, e-mail, phone, address, a device id, a
beneficiary account, plus the references callers gave: application, transaction and
idempotency ids) go through the client API, the admin, ``/score``, ``/fraude``, an alert
worked by an analyst, batch files (one scored, with its result file; one still queued; one
dead-lettered with an error quoting the id), a drift report with its Evidently HTML over
the day's decisions, an access request and the call log. After the erasure, every text,
JSON and binary column of every table (read from the database's own catalogue, not from a
list; binary values decompressed when they are zlib or gzip, as chunk payloads and drift
HTML are) is searched for each identifier, for its SHA-256 (a hash is a linkable
pseudonym) and for the log's fingerprint form; so are the stored files (VAR_DIR, media
included) and everything the platform logged during the test. Nothing may be found. What
the map keeps is then checked to be unlinkable: random tokens, present nowhere but in the
kept rows. The queued and dead-lettered jobs then run: they store nothing of the person.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import secrets
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import TestCase
from django.utils import timezone
from pythonjsonlogger.json import JsonFormatter
from rest_framework.test import APIClient

from accounts.roles import Role
from fraud.models import FraudAlert, Transaction
from fraud.services import fraud_alert_resolve, fraud_alert_take
from monitoring.logging import RedactingFilter, RequestIdFilter, pseudonym
from monitoring.models import DriftReportHtml
from monitoring.services import drift_report_generate
from privacy.models import ErasureCertificate, GdprRequest, RequestStatus
from privacy.services import access_export, gdpr_request_approve, gdpr_request_record
from scoring.batch.services import batch_chunk_score, batch_job_retry_dead_letters, batch_job_submit
from scoring.choices import BatchChunkStatus, BatchJobStatus
from scoring.models import BatchChunk, BatchJob, Client, CreditApplication, Decision
from tests.factories import UserFactory, batch_caller
from tests.scoring.batchfiles import applicants_csv
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db

SEARCHED_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea", "uuid")


def canaries() -> dict[str, str]:
    tag = secrets.token_hex(4)
    return {
        "external id": f"ZQX{tag}",
        "first name": f"Zqxfirst{tag}",
        "last name": f"Zqxlast{tag}",
        "email": f"zqx.{tag}@example.test",
        "phone": f"+33 7 {int(tag, 16) % 10**8:08d}",
        "address": f"{tag} rue Zqxcanary, 75011 Paris",
        "device id": f"zqxdevice-{tag}",
        "beneficiary": f"FR76ZQX{tag.upper()}0001",
        "application id": f"ZQXAPP-{tag}",
        "transaction id": f"ZQXTX-{tag}",
        "idempotency key": f"zqx-loan-{tag}",
    }


def forms_of(value: str) -> list[str]:
    """The value and the pseudonymous forms that would link back to it."""
    digest = hashlib.sha256(value.encode()).hexdigest()
    return [value, digest, pseudonym(value)[2:]]


def columns_to_search() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = ANY(%s) ORDER BY table_name, column_name",
            [list(SEARCHED_TYPES)],
        )
        return list(cursor.fetchall())


def readable(value: bytes) -> bytes:
    """A binary value as the platform would read it: decompressed when it is zlib or gzip."""
    try:
        return zlib.decompress(value, wbits=47)  # 47: zlib or gzip header, told apart by zlib
    except zlib.error:
        return value


def database_hits(needles: dict[str, list[str]]) -> list[str]:
    hits = []
    with connection.cursor() as cursor:
        for table, column, data_type in columns_to_search():
            if data_type == "bytea":  # compressed payloads (batch chunks, drift HTML) are searched decompressed
                cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
                values = [readable(bytes(value)).lower() for (value,) in cursor.fetchall()]
                for label, forms in needles.items():
                    count = sum(1 for v in values if any(f.lower().encode() in v for f in forms))
                    if count:
                        hits.append(f"{table}.{column}: {count} value(s) with the {label}")
                continue
            as_text = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
            for label, forms in needles.items():
                for form in forms:
                    cursor.execute(
                        f'SELECT count(*) FROM "{table}" WHERE {as_text} ILIKE %s',  # noqa: S608 (catalogue names)
                        [f"%{form}%"],
                    )
                    count = cursor.fetchone()[0]
                    if count:
                        hits.append(f"{table}.{column}: {count} row(s) with the {label} ({form[:16]}…)")
    return hits


def file_hits(needles: dict[str, list[str]]) -> list[str]:
    """The stored files: VAR_DIR (the media root included, wherever it is) but the collected static files."""
    hits = []
    static = Path(settings.STATIC_ROOT).resolve()
    roots = [Path(settings.VAR_DIR), Path(settings.MEDIA_ROOT)]
    paths = {path for root in roots if root.exists() for path in root.rglob("*")}
    for path in sorted(paths):
        if path.is_file() and static not in path.resolve().parents:
            data = readable(path.read_bytes()).lower()
            found = [label for label, forms in needles.items() if any(f.lower().encode() in data for f in forms)]
            hits += [f"{path}: {label}" for label in found]
    return hits


@pytest.fixture
def platform_logs() -> Iterator[io.StringIO]:
    """Every record of the test, as the platform's stdout handler writes it (its filters, its format).

    A handler of its own on the root logger: the configured handler writes to the stream
    that was stdout when logging was configured, which pytest's capture fixtures may not see.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_nothing_of_an_erased_person_is_left_but_unlinkable_pseudonyms(
    credit_model: Any,
    fraud_model: Any,
    key_client: Callable[..., APIClient],
    client_as: Callable[[str | None], APIClient],
    capfd: pytest.CaptureFixture[str],
    platform_logs: io.StringIO,
) -> None:
    require_postgresql()
    c = canaries()
    ext = c["external id"]
    api = key_client(Role.ANALYST, ["score", "fraud", "read"])
    api.credentials(**api._credentials, HTTP_X_REQUEST_ID=uuid.uuid4().hex)

    # --- the client API --------------------------------------------------------------------
    created = api.post(
        "/api/v1/clients/",
        {
            "client_id": ext,
            "first_name": c["first name"],
            "last_name": "Placeholder",
            "email": c["email"],
            "phone": c["phone"],
            "birth_date": "1984-03-09",
            "address": c["address"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert api.patch(f"/api/v1/clients/{ext}/", {"last_name": c["last name"]}, format="json").status_code == 200
    assert api.get(f"/api/v1/clients/{ext}/").status_code == 200
    assert api.get("/api/v1/clients/", {"search": c["last name"]}).json()["count"] == 1
    person = Client.objects.get(client_id=ext)

    # --- the admin: an analyst records an application and edits the client ------------------
    analyst_web = client_as("analyst")
    added = analyst_web.post(
        "/admin/scoring/creditapplication/add/",
        {
            "client": person.pk,
            "application_id": c["application id"],
            "amount": "12000",
            "duration_months": "48",
            "purpose": "car",
            "declared_income": "38000",
            "age": "41",
            "status": "received",
            "extra": "{}",
        },
        format="multipart",
    )
    assert added.status_code == 302, added.content[:3000]
    edit = analyst_web.post(
        f"/admin/scoring/client/{person.pk}/change/",
        {
            "first_name": c["first name"],
            "last_name": c["last name"],
            "email": c["email"],
            "phone": c["phone"],
            "birth_date": "1984-03-09",
            "address": c["address"] + " (bis)",
        },
        format="multipart",
    )
    assert edit.status_code == 302, edit.content[:3000]

    # --- /score: by client id (with an idempotency key) and by application id ------------------
    score = {"age": 41, "revenu": 3200, "historique_impaye": 0}
    first = api.post("/score", {**score, "client_id": ext}, format="json", HTTP_IDEMPOTENCY_KEY=c["idempotency key"])
    assert first.status_code == 201, first.content
    second = api.post("/api/v1/score", {**score, "application_id": c["application id"]}, format="json")
    assert second.status_code == 201, second.content
    assert api.get("/api/v1/predictions/", {"client_id": ext}).json()["count"] == 2

    # --- /fraude: an everyday payment and one sent to review, worked by an analyst -------------
    base = {"type": "virement", "client_id": ext, "beneficiary": c["beneficiary"], "device_id": c["device id"]}
    ok = api.post("/fraude", {**base, "transaction_id": c["transaction id"], "montant": 80}, format="json")
    assert ok.status_code == 201, ok.content
    big = {**base, "transaction_id": c["transaction id"] + "-2", "montant": 95000}
    review = api.post("/fraude", big, format="json")
    assert review.status_code == 201 and review.json()["decision"] != "allow", review.content
    assert api.get(f"/api/v1/transactions/{c['transaction id']}/").status_code == 200
    alert = FraudAlert.objects.get(fraud_check__transaction__transaction_id=c["transaction id"] + "-2")
    worker = UserFactory(username="analyst-canary", roles=[Role.ANALYST])
    fraud_alert_take(alert=alert, user=worker)
    fraud_alert_resolve(
        alert=alert,
        user=worker,
        resolution="false_positive",
        comment=f"Called {c['first name']} {c['last name']} on {c['phone']}: genuine.",
    )

    # --- batch files: one scored (by client id, and by application id alone), one queued, one dead
    rows = 150
    named = {3: ext, 77: ext}
    file_text = applicants_csv(
        rows,
        seed=12,
        client_id=[named.get(i, "") for i in range(rows)],
        application_id=[c["application id"] if i == 40 else "" for i in range(rows)],
    )
    upload = SimpleUploadedFile("portfolio.csv", file_text.encode())
    with TestCase.captureOnCommitCallbacks(execute=True):
        sent = api.post("/api/v1/score/batch-jobs", {"file": upload}, format="multipart")
    assert sent.status_code == 202, sent.content
    scored_job = BatchJob.objects.get(pk=sent.json()["id"])
    assert (scored_job.status, scored_job.rows_scored) == (BatchJobStatus.COMPLETED, rows)
    result = api.get(f"/api/v1/score/batch-jobs/{scored_job.pk}/result")
    result_lines = list(csv.DictReader(io.StringIO(b"".join(result.streaming_content).decode())))
    assert [line["row"] for line in result_lines if line["client_id"] == ext] == ["5", "42", "79"]
    # Not run (in a test the tasks wait for a commit that never comes): its chunk holds the rows.
    queued = batch_job_submit(
        data=applicants_csv(4, seed=3, client_id=["", ext, "", ""]).encode(),
        filename="queued.csv",
        caller=batch_caller(),
        source="api",
    )
    dead = batch_job_submit(
        data=applicants_csv(3, seed=4, application_id=["", "", c["application id"]]).encode(),
        filename="dead.csv",
        caller=batch_caller(),
        source="api",
    )
    BatchChunk.objects.filter(job=dead).update(
        status=BatchChunkStatus.DEAD, attempts=3, last_error=f"ValueError: unexpected {c['application id']}"
    )
    BatchJob.objects.filter(pk=dead.pk).update(chunks_dead=1, status=BatchJobStatus.FAILED)

    # --- a drift report over the day's decisions (its Evidently HTML stored) ---------------------
    report = drift_report_generate(purpose="credit", day=timezone.localdate())
    assert report.rows_compared >= settings.DRIFT_MIN_ROWS and DriftReportHtml.objects.filter(report=report).exists()

    # --- an access request answered, then the erasure ------------------------------------------
    recorder = UserFactory(username="officer-rec", roles=[Role.COMPLIANCE])
    approver = UserFactory(username="officer-app", roles=[Role.COMPLIANCE])
    access = gdpr_request_record(kind="access", client=person, by=recorder, details=f"E-mail from {c['email']}")
    gdpr_request_approve(request=access, by=approver)
    exported, _ = access_export(request=access, by=recorder)
    assert c["beneficiary"].encode() in exported and c["email"].encode() in exported
    export = json.loads(exported)
    tables = {t["table"]: t["rows"] for t in export["tables"]}
    in_payloads = {(row["batch_job"], row["row"]) for row in tables["scoring.BatchChunk"]}
    assert in_payloads == {(str(queued.pk), 3), (str(dead.pk), 4)}
    assert sorted(d["batch_row"] for d in tables["scoring.Decision"] if d["batch_job"] == str(scored_job.pk)) == [
        5,
        42,
        79,
    ]

    erasure = gdpr_request_record(kind="erasure", client=person, by=recorder, details=f"Letter from {c['last name']}")
    with TestCase.captureOnCommitCallbacks(execute=True):
        gdpr_request_approve(request=erasure, by=approver)
    erasure.refresh_from_db()
    assert erasure.status == RequestStatus.DONE

    # --- the queued and dead-lettered jobs run after the erasure: they store nothing of the person
    for chunk in BatchChunk.objects.filter(job=queued):
        assert batch_chunk_score(chunk_id=chunk.pk).status == "done"
    assert batch_job_retry_dead_letters(job=dead) == 1
    for chunk in BatchChunk.objects.filter(job=dead):
        assert batch_chunk_score(chunk_id=chunk.pk).status == "done"
    for job, blanked in ((queued, 3), (dead, 4)):
        job.refresh_from_db()
        assert (job.rows_scored, job.rows_rejected) == (job.total_rows - 1, 1)
        assert not Decision.objects.filter(batch_job=job, batch_row=blanked).exists()
    assert not Client.objects.filter(client_id=ext).exists()
    # The scored job's result file no longer has the person's rows (their decisions left the job).
    result = api.get(f"/api/v1/score/batch-jobs/{scored_job.pk}/result")
    after = list(csv.DictReader(io.StringIO(b"".join(result.streaming_content).decode())))
    assert len(after) == len(result_lines) - 3 and {line["row"] for line in after}.isdisjoint({"5", "42", "79"})

    # --- the search ----------------------------------------------------------------------
    needles = {label: forms_of(value) for label, value in c.items()}
    hits = database_hits(needles)
    assert not hits, "\n".join(hits)
    assert not file_hits(needles)
    captured = capfd.readouterr()
    logged = captured.out + captured.err + platform_logs.getvalue()
    assert "batch job finished" in logged and "drift report stored" in logged  # the logs were captured
    for label, value in c.items():
        assert value.lower() not in logged.lower(), f"the {label} reached the logs"
    assert len(columns_to_search()) > 100  # the whole catalogue was read, not a hand list

    # --- what is kept: the records the law requires, with nothing that links back ---------------
    tombstone = Client.objects.get(pk=person.pk)
    kept_transactions = list(Transaction.objects.filter(client=tombstone))
    assert len(kept_transactions) == 2
    tokens = {tombstone.client_id, *(t.transaction_id for t in kept_transactions)}
    tokens |= {t.beneficiary for t in kept_transactions} | {t.device_id for t in kept_transactions}
    assert all(token.startswith("erased-") for token in tokens)
    assert Decision.objects.filter(client=tombstone).count() == 2 + 3
    assert not Decision.objects.filter(client=tombstone, batch_job__isnull=False).exists()
    assert [a.application_id for a in CreditApplication.objects.filter(client=tombstone)] == [None]
    assert not GdprRequest.objects.filter(client=tombstone).exists()
    certificate = ErasureCertificate.objects.get(request=erasure)
    with connection.cursor() as cursor:
        for token in tokens:
            # A token appears only in its own kept row: not in the audit trail, the certificate or the logs.
            cursor.execute("SELECT count(*) FROM audit_auditevent WHERE details::text LIKE %s", [f"%{token}%"])
            assert cursor.fetchone()[0] == 0
            assert token not in str(certificate.document)
            assert token not in logged
