"""Cost as the data grows: the reads and the fraud check on a database of 2,000,000 decisions.

Run inside Django by ``bench/setup_db.py growth DECISIONS`` (``make bench BENCH_ARGS="--only
growth"``). ``seed`` writes, with SQL ``generate_series`` in the bench's own database (seconds,
not hours; reused when the database already holds them):

- ``clients`` clients ``GROWTH-C<n>``;
- ``decisions`` credit decisions spread over the past year (features and reasons of the size
  the API stores), most of them naming a client;
- a known outcome for a quarter of them (for the performance and fairness reports);
- one client, ``GROWTH-HEAVY``, with ``heavy_transactions`` transactions in the past 90 days
  (a few per hour), and a client without history, ``GROWTH-NEW``.

``measure`` then times, in this process, through the whole Django stack (middleware,
authentication, the view, the database), the median of a few calls of each: the first and a
deep page of ``/api/v1/predictions/``, the admin's decisions list and a search by client id,
``/fraude`` for the heavy client against the new one (interleaved, so the machine's noise
hits both alike), and reports the decision table's size and indexes, and what one more
index costs on insert.
"""

from __future__ import annotations

import base64
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

GROWTH_CALLER = "bench:growth"
HEAVY = "GROWTH-HEAVY"
NEW = "GROWTH-NEW"
INSERTER = "GROWTH-INSERT"


def _sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return list(cursor.fetchall()) if cursor.description else []


def seed(*, decisions: int, clients: int, heavy_transactions: int) -> dict[str, Any]:
    """Make sure the database holds the growth data set; returns what it holds and how long writing it took."""
    from django.db import transaction

    from scoring.choices import ModelPurpose, ModelStatus
    from scoring.models import ModelVersion

    model_pk = ModelVersion.objects.get(purpose=ModelPurpose.CREDIT, status=ModelStatus.CHAMPION).pk
    started = time.perf_counter()
    written: dict[str, int] = {}
    with transaction.atomic():
        have_clients = _sql("SELECT count(*) FROM scoring_client WHERE client_id LIKE 'GROWTH-C%%'")[0][0]
        if have_clients < clients:
            _sql(
                "INSERT INTO scoring_client (client_id, first_name, last_name, email, phone, address, "
                "created_at, updated_at) SELECT 'GROWTH-C' || lpad(n::text, 7, '0'), '', '', '', '', '', now(), now() "
                "FROM generate_series(%s, %s) AS n ON CONFLICT (client_id) DO NOTHING",
                [have_clients, clients - 1],
            )
            written["clients"] = clients - have_clients
        for name in (HEAVY, NEW):
            _sql(
                "INSERT INTO scoring_client (client_id, first_name, last_name, email, phone, address, "
                "created_at, updated_at) VALUES (%s, '', '', '', '', '', now(), now()) ON CONFLICT DO NOTHING",
                [name],
            )
    with transaction.atomic():
        have = _sql("SELECT count(*) FROM scoring_decision WHERE caller = %s", [GROWTH_CALLER])[0][0]
        if have < decisions:
            first = _sql("SELECT min(id) FROM scoring_client WHERE client_id LIKE 'GROWTH-C%%'")[0][0]
            # Two decisions in three name a client (the rest came without one); the newest is
            # "now", the oldest a year ago, evenly spread (about one every 16 s at 2M).
            _sql(
                f"""
                INSERT INTO scoring_decision (id, client_id, model_version_id, features, probability_default,
                    prediction, decision, risk_level, threshold_used, reasons, latency_ms, caller,
                    request_hash, created_at)
                SELECT gen_random_uuid(),
                       CASE WHEN n %% 3 = 0 THEN NULL ELSE {int(first)} + (n * 7919) %% {int(clients)} END,
                       {int(model_pk)},
                       jsonb_build_object('age', 20 + n %% 50, 'revenu', 30000 + (n * 37) %% 90000,
                           'historique_impaye', n %% 3, 'job', 'fixed', 'home', 'owner',
                           'marital_status', 'married', 'seniority_years', n %% 30, 'amount', 1000 + n %% 4000,
                           'price', 1500 + n %% 5000, 'assets', (n * 13) %% 20000, 'debt', n %% 500,
                           'records', 'no', 'expenses', 60 + n %% 40),
                       p, CASE WHEN p >= 0.5 THEN 1 ELSE 0 END,
                       CASE WHEN p >= 0.5 THEN 'refuse' ELSE 'approve' END,
                       CASE WHEN p >= 0.5 THEN 'HIGH' WHEN p >= 0.2 THEN 'MEDIUM' ELSE 'LOW' END,
                       0.5,
                       jsonb_build_array(
                           jsonb_build_object('feature', 'revenu', 'label', 'income', 'value', 30000 + n %% 90000,
                                              'contribution', 0.31),
                           jsonb_build_object('feature', 'age', 'label', 'age', 'value', 20 + n %% 50,
                                              'contribution', -0.12),
                           jsonb_build_object('feature', 'debt', 'label', 'debt', 'value', n %% 500,
                                              'contribution', 0.05)),
                       1.5, %s, '',
                       now() - make_interval(secs => (n::float8 / %s) * 365 * 86400)
                FROM (SELECT n, ((n * 104729) %% 1000) / 1000.0 AS p
                      FROM generate_series(%s::bigint, %s::bigint) AS n) AS s
                """,
                [GROWTH_CALLER, decisions, have, decisions - 1],
            )
            written["decisions"] = decisions - have
    with transaction.atomic():
        # A quarter of the decisions have a known outcome (12 months, a default drawn at the
        # decision's own probability), for the performance and fairness reports to work on.
        have = _sql("SELECT count(*) FROM governance_outcome WHERE caller = %s", [GROWTH_CALLER])[0][0]
        if have == 0:
            _sql(
                """
                INSERT INTO governance_outcome (decision_id, defaulted, observed_on, horizon_months, source, caller,
                    import_id, created_at)
                SELECT id, random() < probability_default, current_date, 12, 'command', %s,
                       '00000000-0000-4000-8000-00000000b0b0', now()
                FROM scoring_decision WHERE caller = %s AND get_byte(uuid_send(id), 15) %% 4 = 0
                """,
                [GROWTH_CALLER, GROWTH_CALLER],
            )
            written["outcomes"] = _sql("SELECT count(*) FROM governance_outcome WHERE caller = %s", [GROWTH_CALLER])[0][
                0
            ]
    with transaction.atomic():
        heavy_pk = _sql("SELECT id FROM scoring_client WHERE client_id = %s", [HEAVY])[0][0]
        have = _sql("SELECT count(*) FROM fraud_transaction WHERE client_id = %s", [heavy_pk])[0][0]
        if have < heavy_transactions:
            # Evenly over 90 days (about 9 an hour at 20k), a few beneficiaries, devices and countries.
            _sql(
                """
                INSERT INTO fraud_transaction (transaction_id, submitted_by, client_id, amount, currency, type,
                    timestamp, country, channel, beneficiary, device_id, merchant_category, created_at)
                SELECT 'GROWTH-H' || n, '', %s, 10 + (n * 37) %% 300, 'EUR',
                       (ARRAY['carte', 'virement', 'prelevement', 'retrait'])[1 + n %% 4],
                       now() - make_interval(secs => 60 + (n::float8 / %s) * 89 * 86400),
                       (ARRAY['FR', 'FR', 'FR', 'ES', 'DE'])[1 + n %% 5], 'web',
                       CASE WHEN n %% 4 = 1 THEN 'FR76GROWTH' || (n %% 5) ELSE '' END,
                       'growth-dev-' || (n %% 3), CASE WHEN n %% 4 = 0 THEN '5411' ELSE '' END, now()
                FROM generate_series(%s, %s) AS n
                """,
                [heavy_pk, heavy_transactions, have, heavy_transactions - 1],
            )
            written["heavy_transactions"] = heavy_transactions - have
    # Statistics and visibility up to date, as autovacuum keeps them on a live database.
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("scoring_client", "scoring_decision", "fraud_transaction", "governance_outcome"):
            cursor.execute(f"VACUUM ANALYZE {table}" if written or table == "fraud_transaction" else f"ANALYZE {table}")
    return {
        "decisions": _sql("SELECT count(*) FROM scoring_decision")[0][0],
        "outcomes": _sql("SELECT count(*) FROM governance_outcome")[0][0],
        "clients": _sql("SELECT count(*) FROM scoring_client")[0][0],
        "heavy_transactions_90d": _sql(
            "SELECT count(*) FROM fraud_transaction WHERE client_id = %s AND timestamp >= now() - interval '90 days'",
            [heavy_pk],
        )[0][0],
        "written": written,
        "seed_seconds": round(time.perf_counter() - started, 1),
    }


def _median_ms(call: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2), [round(t, 2) for t in times]


def _cursor(created_at: Any, pk: Any) -> str:
    """The cursor of "the rows after this one" (what a ``next`` link carries: KeysetPagination)."""
    return base64.urlsafe_b64encode(urlencode({"p": created_at.isoformat(), "i": str(pk)}).encode("ascii")).decode()


def _table(name: str) -> dict[str, Any]:
    size, heap, rows = _sql(
        "SELECT pg_total_relation_size(c.oid), pg_relation_size(c.oid), c.reltuples::bigint "
        "FROM pg_class c WHERE c.relname = %s",
        [name],
    )[0]
    indexes = _sql(
        "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass ORDER BY 1",
        [name],
    )
    return {
        "total_mb": round(size / 2**20),
        "heap_mb": round(heap / 2**20),
        "bytes_per_row": round(heap / rows) if rows > 0 else None,
        "indexes": {index: round(bytes_ / 2**20, 1) for index, bytes_ in indexes},
    }


def _insert_cost(table: str, rows: int) -> float:
    """Milliseconds to insert ``rows`` rows like the platform's into ``table`` (rolled back)."""
    from django.db import transaction

    from scoring.choices import ModelPurpose, ModelStatus
    from scoring.models import ModelVersion

    model_pk = ModelVersion.objects.get(purpose=ModelPurpose.CREDIT, status=ModelStatus.CHAMPION).pk
    # Another client than the two /fraude compares: the rolled-back rows stay in the index until vacuumed.
    _sql(
        "INSERT INTO scoring_client (client_id, first_name, last_name, email, phone, address, created_at, "
        "updated_at) VALUES (%s, '', '', '', '', '', now(), now()) ON CONFLICT DO NOTHING",
        [INSERTER],
    )
    heavy_pk = _sql("SELECT id FROM scoring_client WHERE client_id = %s", [INSERTER])[0][0]
    statements = {
        "scoring_decision": (
            f"INSERT INTO scoring_decision (id, client_id, model_version_id, features, probability_default, "
            f"prediction, decision, risk_level, threshold_used, reasons, latency_ms, caller, request_hash, "
            f"created_at) SELECT gen_random_uuid(), {int(heavy_pk)}, {int(model_pk)}, '{{\"age\": 30}}', 0.1, 0, "
            f"'approve', 'LOW', 0.5, '[]', 1, 'bench:insert', '', now() FROM generate_series(1, {int(rows)})"
        ),
        "fraud_transaction": (
            f"INSERT INTO fraud_transaction (transaction_id, submitted_by, client_id, amount, currency, type, "
            f"timestamp, country, channel, beneficiary, device_id, merchant_category, created_at) "
            f"SELECT 'GROWTH-I' || n, 'bench:insert', {int(heavy_pk)}, 12.5, 'EUR', 'carte', now(), 'FR', 'web', "
            f"'', 'd', '5411', now() FROM generate_series(1, {int(rows)}) AS n"
        ),
    }

    class Rollback(Exception):
        pass

    started = time.perf_counter()
    try:
        with transaction.atomic():
            _sql(statements[table])
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return round(elapsed * 1000, 1)


def measure(*, repeat: int = 5, fraude_repeat: int = 41) -> dict[str, Any]:
    """The timings of the growth scenario (milliseconds, median of ``repeat`` calls)."""
    from django.contrib.auth import get_user_model
    from django.test import Client as HttpClient

    from accounts.services import api_key_create

    key = api_key_create(name=f"growth-{uuid.uuid4().hex[:6]}", role="analyst", scopes=["score", "fraud", "read"])
    api = HttpClient(HTTP_X_API_KEY=key.plain_key)
    user_model = get_user_model()
    admin_user = user_model.objects.filter(username="growth-admin").first() or user_model.objects.create_superuser(
        "growth-admin", "growth-admin@example.com", uuid.uuid4().hex
    )
    browser = HttpClient()
    browser.force_login(admin_user)

    def get_ok(client: HttpClient, path: str, query: dict[str, Any] | None = None) -> Any:
        response = client.get(path, query or {})
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} {query}: {response.status_code} {response.content[:300]!r}")
        return response

    out: dict[str, Any] = {}
    first = get_ok(api, "/api/v1/predictions/").json()
    out["predictions_page_fields"] = sorted(first)
    # The 5,000th page of 50: the rows after the 249,950 newest, by a cursor as the ``next``
    # link of the page before it carries, and by ``?page=5000`` (OFFSET) when that is offered.
    position = _sql(
        "SELECT created_at, id FROM scoring_decision ORDER BY created_at DESC, id DESC OFFSET 249949 LIMIT 1"
    )[0]
    deep = {"cursor": _cursor(*position)} if "cursor=" in str(first.get("next") or "") else None
    # The first and the deep page in turns, so that the machine's noise falls on both alike.
    pages: dict[str, list[float]] = {"first": [], "deep": []}
    for _ in range(2 * repeat + 1):
        for name, query in (("first", {}), ("deep", deep)):
            if query is None:
                continue
            started = time.perf_counter()
            get_ok(api, "/api/v1/predictions/", query)
            pages[name].append(round((time.perf_counter() - started) * 1000, 2))
    out["predictions_first_page_ms"] = round(statistics.median(pages["first"]), 2)
    out["predictions_first_page_runs"] = pages["first"]
    if deep is not None:
        out["predictions_deep_page_ms"] = round(statistics.median(pages["deep"]), 2)
        out["predictions_deep_page_runs"] = pages["deep"]
        out["predictions_deep_page_by"] = "cursor"
    legacy = api.get("/api/v1/predictions/", {"page": 5000})
    if legacy.status_code == 200:
        out["predictions_page_5000_ms"], out["predictions_page_5000_runs"] = _median_ms(
            lambda: get_ok(api, "/api/v1/predictions/", {"page": 5000}), repeat
        )
    out["admin_decisions_list_ms"], out["admin_decisions_list_runs"] = _median_ms(
        lambda: get_ok(browser, "/admin/scoring/decision/"), repeat
    )
    searched = "GROWTH-C0000777"
    out["admin_search_client_ms"], out["admin_search_client_runs"] = _median_ms(
        lambda: get_ok(browser, "/admin/scoring/decision/", {"q": searched}), repeat
    )
    hits = _sql(
        "SELECT count(*) FROM scoring_decision d JOIN scoring_client c ON c.id = d.client_id WHERE c.client_id = %s",
        [searched],
    )[0][0]
    out["admin_search_client_rows"] = hits

    # /fraude: the heavy client and the new one, interleaved; each call a new transaction.
    run = uuid.uuid4().hex[:8]
    timings: dict[str, list[float]] = {HEAVY: [], NEW: []}
    for i in range(fraude_repeat + 2):
        for client_id in (HEAVY, NEW):
            body = {
                "transaction_id": f"GROWTH-F{run}-{client_id[-3:]}-{i}",
                "montant": 42.5,
                "type": "carte",
                "client_id": client_id,
                "country": "FR",
                "channel": "web",
            }
            started = time.perf_counter()
            response = api.post("/fraude", body, content_type="application/json")
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code not in (200, 201):
                raise RuntimeError(f"/fraude {response.status_code} {response.content[:300]!r}")
            if i >= 2:  # the first calls warm the caches
                timings[client_id].append(elapsed)
    out["fraude_heavy_ms"] = round(statistics.median(timings[HEAVY]), 2)
    out["fraude_new_ms"] = round(statistics.median(timings[NEW]), 2)
    out["fraude_heavy_extra_ms"] = round(out["fraude_heavy_ms"] - out["fraude_new_ms"], 2)
    heavy_pk = _sql("SELECT id FROM scoring_client WHERE client_id = %s", [HEAVY])[0][0]
    # The velocity query alone, heavy and new client interleaved (what /fraude's difference is made of).
    from django.utils import timezone

    from fraud.selectors import client_history_summary

    new_pk = _sql("SELECT id FROM scoring_client WHERE client_id = %s", [NEW])[0][0]
    query_ms: dict[int, list[float]] = {heavy_pk: [], new_pk: []}
    for _ in range(101):
        for pk in (heavy_pk, new_pk):
            started = time.perf_counter()
            client_history_summary(client_pk=pk, at=timezone.now(), device_id="growth-dev-1", country="FR")
            query_ms[pk].append((time.perf_counter() - started) * 1000)
    out["velocity_query_heavy_ms"] = round(statistics.median(query_ms[heavy_pk]), 3)
    out["velocity_query_new_ms"] = round(statistics.median(query_ms[new_pk]), 3)
    # A beneficiary, device and country the heavy client never used: "seen before" must not read its 90 days.
    never = {"beneficiary": "FR76NEVERPAID", "device_id": "never-seen-device", "country": "MA"}
    never_ms: dict[int, list[float]] = {heavy_pk: [], new_pk: []}
    for _ in range(101):
        for pk in (heavy_pk, new_pk):
            started = time.perf_counter()
            client_history_summary(client_pk=pk, at=timezone.now(), **never)
            never_ms[pk].append((time.perf_counter() - started) * 1000)
    out["velocity_never_seen_heavy_ms"] = round(statistics.median(never_ms[heavy_pk]), 3)
    out["velocity_never_seen_new_ms"] = round(statistics.median(never_ms[new_pk]), 3)
    explain = _sql(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*), sum(amount) FROM fraud_transaction "
        "WHERE client_id = %s AND timestamp >= now() - interval '90 days' AND timestamp <= now()",
        [heavy_pk],
    )[0][0]
    out["heavy_window_scan"] = {
        "node": explain[0]["Plan"]["Plans"][0]["Node Type"] if explain[0]["Plan"].get("Plans") else "",
        "ms": explain[0]["Execution Time"],
    }
    out["scoring_decision"] = _table("scoring_decision")
    out["fraud_transaction"] = _table("fraud_transaction")
    out["insert_20000_decisions_ms"] = _insert_cost("scoring_decision", 20000)
    out["insert_20000_transactions_ms"] = _insert_cost("fraud_transaction", 20000)
    return out
