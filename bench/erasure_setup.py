"""Erasure benchmark: one client with N transactions erased, next to a plain DELETE of the same rows.

Run inside Django by ``bench/setup_db.py erasure``. Each round builds two identical
clients (N transactions, each with its fraud check, a resolved alert on one of them,
credit applications and decisions), then times:

- **erasure**: ``erasure_execute`` on an approved request, the whole service (legal holds,
  deletion past retention, pseudonymisation of what AML and decision records keep, admin
  log scrub, certificate, audit event), one transaction;
- **baseline**: the same rows of the twin client removed with plain ``DELETE`` statements
  (checks, transactions, decisions, applications, client), one transaction: what "just
  delete the person" would cost, without keeping anything the law requires.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any


def _client_with_history(tag: str, transactions: int, model: Any) -> Any:
    from django.utils import timezone

    from fraud.models import FraudCheck, Transaction
    from scoring.models import Client, CreditApplication, Decision

    rng = random.Random(tag)
    client = Client.objects.create(
        client_id=f"BENCH-ERASE-{tag}",
        first_name="Bench",
        last_name=f"Person {tag}",
        email=f"bench.{tag}@example.test",
        phone="+33 6 00 00 00 00",
        address="1 rue du Banc, Paris",
    )
    now = timezone.now()
    txns = [
        Transaction(
            transaction_id=f"BENCH-{tag}-{i}",
            client=client,
            amount=Decimal(rng.randint(100, 100_000)) / 100,
            type="carte" if i % 3 else "virement",
            timestamp=now - timedelta(minutes=7 * i),
            country="FR",
            channel="web",
            beneficiary=f"FR76BENCH{tag}{i % 40:03d}" if i % 3 == 0 else "",
            device_id=f"dev-{tag}-{i % 5}",
        )
        for i in range(transactions)
    ]
    Transaction.objects.bulk_create(txns, batch_size=2000)
    FraudCheck.objects.bulk_create(
        [
            FraudCheck(
                transaction=t,
                features={"amount": float(t.amount), "type": t.type, "count_24h": 3},
                fraud_score=0.05,
                risk_level="LOW",
                decision="allow",
                caller="apikey:bench",
            )
            for t in txns
        ],
        batch_size=2000,
    )
    applications = [
        CreditApplication.objects.create(
            client=client, application_id=f"BENCH-APP-{tag}-{i}", amount=1000, duration_months=12
        )
        for i in range(20)
    ]
    Decision.objects.bulk_create(
        [
            Decision(
                client=client,
                application=applications[i],
                model_version=model,
                features={"age": 30 + i, "revenu": 2000},
                probability_default=0.1,
                prediction=0,
                decision="approve",
                risk_level="LOW",
                threshold_used=0.3,
                caller="apikey:bench",
            )
            for i in range(20)
        ]
    )
    return client


def _baseline_delete(client: Any) -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM fraud_fraudcheck WHERE transaction_id IN "
            "(SELECT id FROM fraud_transaction WHERE client_id = %s)",
            [client.pk],
        )
        for table in ("fraud_transaction", "fraud_clientdaytotal", "scoring_decision", "scoring_creditapplication"):
            cursor.execute(f"DELETE FROM {table} WHERE client_id = %s", [client.pk])  # noqa: S608 (constant names)
        cursor.execute("DELETE FROM scoring_client WHERE id = %s", [client.pk])
    return time.perf_counter() - started


def run_erasure_bench(transactions: int = 10_000, rounds: int = 3) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from privacy.services import erasure_execute, gdpr_request_approve, gdpr_request_record
    from scoring.models import ModelVersion

    users = get_user_model()
    officers = []
    for name in ("bench-officer-a", "bench-officer-b"):
        user, _ = users.objects.get_or_create(username=name, defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name="compliance"))
        officers.append(users.objects.get(pk=user.pk))  # fresh permission cache
    model, _ = ModelVersion.objects.get_or_create(
        purpose="credit", version="bench-erasure", defaults={"sha256": "0" * 64, "threshold": 0.3}
    )
    erasure, baseline, kept, deleted = [], [], 0, 0
    for r in range(rounds):
        tag = f"{int(time.time())}{r}"
        person = _client_with_history(f"e{tag}", transactions, model)
        twin = _client_with_history(f"b{tag}", transactions, model)
        request = gdpr_request_record(kind="erasure", client=person, by=officers[0])
        gdpr_request_approve(request=request, by=officers[1], enqueue=False)
        started = time.perf_counter()
        result = erasure_execute(request=request)
        erasure.append(time.perf_counter() - started)
        assert result.done and result.certificate is not None
        kept = result.certificate.document["erasure"]["rows_kept_pseudonymised"]
        deleted = result.certificate.document["erasure"]["rows_deleted"]
        baseline.append(_baseline_delete(twin))
    return {
        "transactions": transactions,
        "rounds": rounds,
        "erasure_seconds": [round(x, 3) for x in erasure],
        "erasure_median_seconds": round(statistics.median(erasure), 3),
        "baseline_delete_seconds": [round(x, 3) for x in baseline],
        "baseline_median_seconds": round(statistics.median(baseline), 3),
        "rows_kept_pseudonymised": kept,
        "rows_deleted": deleted,
    }
