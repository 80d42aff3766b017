"""Erasure completeness on PostgreSQL: one person through every flow, erased, then searched for everywhere.

The person's identifiers (external id, names, e-mail, phone, address, a device id, a
beneficiary account, plus the references callers gave: application, transaction and
idempotency ids) go through the client API, the admin, ``/score``, ``/fraude``, an alert
worked by an analyst, an access request and the call log. After the erasure, every text,
JSON and binary column of every table (read from the database's own catalogue, not from a
list) is searched for each identifier, for its SHA-256 (a hash is a linkable pseudonym)
and for the log's fingerprint form; so are the stored files and everything the platform
logged during the test. Nothing may be found. What the map keeps is then checked to be
unlinkable: random tokens, present nowhere but in the kept rows.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import TestCase
from rest_framework.test import APIClient

from accounts.roles import Role
from fraud.models import FraudAlert, Transaction
from fraud.services import fraud_alert_resolve, fraud_alert_take
from monitoring.logging import pseudonym
from privacy.models import ErasureCertificate, GdprRequest, RequestStatus
from privacy.services import access_export, gdpr_request_approve, gdpr_request_record
from scoring.models import Client, CreditApplication, Decision
from tests.factories import UserFactory
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


def database_hits(needles: dict[str, list[str]]) -> list[str]:
    hits = []
    with connection.cursor() as cursor:
        for table, column, data_type in columns_to_search():
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
    hits = []
    root = Path(settings.MEDIA_ROOT)
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file():
            data = path.read_bytes().lower()
            found = [label for label, forms in needles.items() if any(f.lower().encode() in data for f in forms)]
            hits += [f"{path}: {label}" for label in found]
    return hits


def test_nothing_of_an_erased_person_is_left_but_unlinkable_pseudonyms(
    credit_model: Any,
    fraud_model: Any,
    key_client: Callable[..., APIClient],
    client_as: Callable[[str | None], APIClient],
    capfd: pytest.CaptureFixture[str],
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

    # --- an access request answered, then the erasure ------------------------------------------
    recorder = UserFactory(username="officer-rec", roles=[Role.COMPLIANCE])
    approver = UserFactory(username="officer-app", roles=[Role.COMPLIANCE])
    access = gdpr_request_record(kind="access", client=person, by=recorder, details=f"E-mail from {c['email']}")
    gdpr_request_approve(request=access, by=approver)
    exported, _ = access_export(request=access, by=recorder)
    assert c["beneficiary"].encode() in exported and c["email"].encode() in exported

    erasure = gdpr_request_record(kind="erasure", client=person, by=recorder, details=f"Letter from {c['last name']}")
    with TestCase.captureOnCommitCallbacks(execute=True):
        gdpr_request_approve(request=erasure, by=approver)
    erasure.refresh_from_db()
    assert erasure.status == RequestStatus.DONE

    # --- the search ----------------------------------------------------------------------
    needles = {label: forms_of(value) for label, value in c.items()}
    hits = database_hits(needles)
    assert not hits, "\n".join(hits)
    assert not file_hits(needles)
    logged = capfd.readouterr()
    for label, value in c.items():
        assert value.lower() not in (logged.out + logged.err).lower(), f"the {label} reached the logs"
    assert len(columns_to_search()) > 100  # the whole catalogue was read, not a hand list

    # --- what is kept: the records the law requires, with nothing that links back ---------------
    tombstone = Client.objects.get(pk=person.pk)
    kept_transactions = list(Transaction.objects.filter(client=tombstone))
    assert len(kept_transactions) == 2
    tokens = {tombstone.client_id, *(t.transaction_id for t in kept_transactions)}
    tokens |= {t.beneficiary for t in kept_transactions} | {t.device_id for t in kept_transactions}
    assert all(token.startswith("erased-") for token in tokens)
    assert Decision.objects.filter(client=tombstone).count() == 2
    assert [a.application_id for a in CreditApplication.objects.filter(client=tombstone)] == [None]
    assert not GdprRequest.objects.filter(client=tombstone).exists()
    certificate = ErasureCertificate.objects.get(request=erasure)
    with connection.cursor() as cursor:
        for token in tokens:
            # A token appears only in its own kept row: not in the audit trail, the certificate or the logs.
            cursor.execute("SELECT count(*) FROM audit_auditevent WHERE details::text LIKE %s", [f"%{token}%"])
            assert cursor.fetchone()[0] == 0
            assert token not in str(certificate.document)
            assert token not in logged.out
