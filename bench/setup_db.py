"""Benchmark fixtures inside Django: ``python bench/setup_db.py prepare|erasure|growth|… OUTDIR``.

``erasure`` times the erasure of a client with 10,000 transactions against a plain
DELETE of the same rows (``bench/erasure_setup.py``).

``growth DECISIONS`` seeds DECISIONS decisions (a tenth as many clients, one client with 20,000
transactions) and times the reads and the fraud check on them (``bench/growth_setup.py``).
``drift ROWS DAY`` writes a day of ROWS credit decisions for the drift report (``bench/drift_setup.py``).
``prepare OUTDIR [no-fraud]`` migrates the benchmark database, trains and registers the default credit model
when it has none (the project's own command), makes an analyst API key, prepares the fraud
scenario when the fraud app provides ``bench/fraud_setup.py``, and writes what the load
generator and the bare baseline need into OUTDIR.
``score-stored CALLER RUNS.json`` and ``fraud-stored SINCE RUN...`` check the rows the ``/score``
and ``/fraude`` runs stored against what wrk saw answered.
``batch-file N``, ``batch-reset``, ``batch-run [CHUNK_ROWS]`` and ``batch-baseline`` are the
batch scenario (``bench/batch_setup.py``). Each prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")


def prepare(out: Path, fraud: bool = True) -> dict[str, object]:
    import io

    from django.core.management import call_command

    from accounts.services import api_key_create
    from scoring.choices import ModelPurpose, ModelStatus
    from scoring.models import ModelVersion

    call_command("migrate", verbosity=0, interactive=False)
    if not ModelVersion.objects.filter(purpose=ModelPurpose.CREDIT, status=ModelStatus.CHAMPION).exists():
        call_command("train_credit_model", stdout=io.StringIO())
    champion = ModelVersion.objects.select_related("artifact_file").get(
        purpose=ModelPurpose.CREDIT, status=ModelStatus.CHAMPION
    )
    (out / "credit_model.txt").write_bytes(bytes(champion.artifact_file.content))
    (out / "credit_schema.json").write_text(json.dumps(champion.feature_schema))
    issued = api_key_create(name="bench", role="analyst", scopes=["score", "fraud", "read"])
    # A new key per run: its label (the ``caller`` of every decision and call-log row it makes)
    # tells this run's rows from an earlier run's on a reused database.
    result: dict[str, object] = {
        "api_key": issued.plain_key,
        "caller": issued.api_key.label,
        "credit_model": champion.version,
        "fraud": None,
    }
    try:
        from bench.fraud_setup import prepare_fraud_bench
    except ImportError:
        pass
    else:
        if fraud:
            result["fraud"] = prepare_fraud_bench(rules=50, clients=5000, history_per_client=20)
    return result


def fraud_stored(since: str, run_ids: list[str]) -> dict[str, object]:
    """Per wrk run: the transactions and checks its requests stored (ids ``B<run>-<thread>-<n>``) since ``since``.

    (Run ids repeat from one ``make bench`` to the next on a reused database: only this run's rows count.)
    """
    from django.db import connection

    runs: dict[str, object] = {}
    with connection.cursor() as cursor:
        for run_id in run_ids:
            cursor.execute(
                "SELECT count(*), count(DISTINCT t.transaction_id), count(c.id) FROM fraud_transaction t "
                "LEFT JOIN fraud_fraudcheck c ON c.transaction_id = t.id WHERE t.transaction_id LIKE %s "
                "AND t.created_at >= %s",
                [f"B{run_id}-%", since],
            )
            transactions, distinct_ids, checks = cursor.fetchone()
            # Per wrk thread, the request numbers stored must be 1..max: a hole is a lost request.
            cursor.execute(
                "SELECT split_part(transaction_id, '-', 2), max(split_part(transaction_id, '-', 3)::int), "
                "count(DISTINCT split_part(transaction_id, '-', 3)) FROM fraud_transaction "
                "WHERE transaction_id LIKE %s AND created_at >= %s GROUP BY 1",
                [f"B{run_id}-%", since],
            )
            gaps = sum(top - present for _, top, present in cursor.fetchall())
            runs[run_id] = {"transactions": transactions, "distinct_ids": distinct_ids, "checks": checks, "gaps": gaps}
    return {"runs": runs}


def score_stored(caller: str, runs: dict[str, list[Any]], settle_seconds: float = 1.5) -> dict[str, object]:
    """Per wrk run of ``/score``: its call-log rows (by request id) and the decisions stored in its time window.

    ``runs`` maps a run id to its [start, end] (Unix seconds, taken around wrk) and, optionally,
    the file where wrk listed the id of every request it saw answered 2xx: then each of those
    ids is looked up among the 2xx call-log rows (``answered_unlogged``: answered, not logged;
    ``logged_unanswered``: logged 2xx, not seen answered, as requests in flight at the end). The call log is
    written in batches off the request path (``monitoring.calllog``): first wait until the
    count of this caller's rows stops moving. Request ids are ``B<run>-<thread>-<n>``, n counting
    from 1 per wrk thread: ``gaps`` counts the numbers missing below each thread's highest.
    ``total`` compares, over the whole span of the runs, every decision of ``caller`` with every
    2xx call-log row: with no other traffic from that key, the two must be equal.
    """
    import datetime as dt
    import time

    from monitoring.models import ApiCall
    from scoring.models import Decision

    def at(seconds: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)

    since = at(min(span[0] for span in runs.values()) - 1) if runs else at(time.time())
    logged = ApiCall.objects.filter(caller=caller, created_at__gte=since)
    previous = -1
    while (now := logged.count()) != previous:
        previous = now
        time.sleep(settle_seconds)
    out: dict[str, object] = {}
    for run_id, (start, end, *listed) in runs.items():
        rows = list(logged.filter(request_id__startswith=f"B{run_id}-").values_list("request_id", "status_code"))
        ids = [rid for rid, _ in rows]
        ok = [rid for rid, status in rows if 200 <= status < 300]
        top: dict[str, int] = {}
        present: dict[str, set[int]] = {}
        for rid in ids:
            _, thread, n = rid.rsplit("-", 2)
            top[thread] = max(top.get(thread, 0), int(n))
            present.setdefault(thread, set()).add(int(n))
        checked: dict[str, int] = {}
        if listed and listed[0] and Path(listed[0]).exists():
            answered = Path(listed[0]).read_text().split()
            logged_ok = set(ok)
            checked = {
                "answered": len(answered),
                "answered_distinct": len(set(answered)),
                "answered_unlogged": len(set(answered) - logged_ok),
                "logged_unanswered": len(logged_ok - set(answered)),
            }
        out[run_id] = {
            **checked,
            "log_rows": len(ids),
            "log_distinct": len(set(ids)),
            "log_2xx": len(ok),
            "log_2xx_distinct": len(set(ok)),
            "gaps": sum(top[t] - len(present[t]) for t in top),
            "decisions": Decision.objects.filter(
                caller=caller, created_at__gte=at(start), created_at__lt=at(end)
            ).count(),
        }
    total = {
        "decisions": Decision.objects.filter(caller=caller, created_at__gte=since).count(),
        "log_2xx": logged.filter(endpoint="/score", status_code__gte=200, status_code__lt=300).count(),
    }
    return {"runs": out, "total": total}


if __name__ == "__main__":
    import django

    django.setup()
    action = sys.argv[1]
    extra = sys.argv[3:]
    if action == "prepare":
        payload = prepare(Path(sys.argv[2]), fraud="no-fraud" not in extra)
    elif action == "drift":
        from datetime import date

        from bench.drift_setup import prepare_drift_bench

        payload = prepare_drift_bench(rows=int(sys.argv[2]), day=date.fromisoformat(sys.argv[3]))
    elif action == "score-stored":
        payload = score_stored(sys.argv[3], json.loads(Path(sys.argv[4]).read_text()))
    elif action == "fraud-stored":
        payload = fraud_stored(sys.argv[3], sys.argv[4:])
    elif action == "growth":
        from bench.growth_setup import measure, seed

        decisions = int(sys.argv[2])
        payload = {
            "seed": seed(decisions=decisions, clients=decisions // 10, heavy_transactions=20_000),
            **measure(),
        }
    elif action == "erasure":
        from django.core.management import call_command

        from bench.erasure_setup import run_erasure_bench

        call_command("migrate", verbosity=0, interactive=False)
        payload = run_erasure_bench(transactions=int(sys.argv[3]) if len(sys.argv) > 3 else 10_000)
    else:  # the batch scenario: bench/batch_setup.py
        from bench import batch_setup

        out = Path(sys.argv[2])
        if action == "batch-file":
            payload = batch_setup.write_file(out / "applicants.csv", int(extra[0]))
        elif action == "batch-reset":
            payload = batch_setup.reset()
        elif action == "batch-run":
            payload = batch_setup.run_job(out / "applicants.csv", int(extra[0]) if extra else None)
        elif action == "batch-baseline":
            payload = batch_setup.baseline(out / "applicants.csv")
        else:
            raise SystemExit(f"unknown action {action}")
    print("SETUP " + json.dumps(payload, default=str))
