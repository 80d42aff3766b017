"""Large lists page by cursor on (ordering field, id); the admin of decisions neither counts nor scans.

``/api/v1/predictions/`` and ``/api/v1/transactions/`` answer ``count``, ``next``,
``previous`` and ``results`` as before; ``next`` carries a cursor, and ``?page=N`` still works
for existing clients (docs/performance.md).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as BrowserClient
from django.utils import timezone
from rest_framework.test import APIClient

from creditplatform.admin_mixins import EstimatedCountPaginator
from creditplatform.api.pagination import KeysetPagination
from fraud.models import Transaction
from scoring.models import Decision
from scoring.selectors import decision_search
from tests.factories import ClientFactory, TransactionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(key_client: Callable[..., APIClient]) -> APIClient:
    return key_client("analyst", ["read"])


@pytest.fixture
def transactions() -> list[Transaction]:
    """Eleven transactions; five share one timestamp (as a batch's rows share their created_at)."""
    client = ClientFactory(client_id="K-PAGE")
    now = timezone.now().replace(microsecond=0)
    same = now - dt.timedelta(minutes=5)
    stamps = (
        [now - dt.timedelta(minutes=m) for m in (1, 2, 3)]
        + [same] * 5
        + [now - dt.timedelta(hours=h) for h in (1, 2, 3)]
    )
    return [TransactionFactory(client=client, transaction_id=f"PG{i:02d}", timestamp=t) for i, t in enumerate(stamps)]


def _walk(api: APIClient, first: dict[str, Any], key: str) -> list[dict[str, Any]]:
    pages = [first]
    while pages[-1]["next"]:
        response = api.get(pages[-1]["next"])
        assert response.status_code == 200
        pages.append(response.json())
        assert len(pages) < 20
    return pages


def test_cursor_pages_show_every_row_once_in_order_even_with_ties(
    reader: APIClient, transactions: list[Transaction]
) -> None:
    first = reader.get("/api/v1/transactions/", {"page_size": 3}).json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 11 and first["previous"] is None and "cursor=" in first["next"]
    pages = _walk(reader, first, "transaction_id")
    seen = [row["transaction_id"] for page in pages for row in page["results"]]
    expected = [t.transaction_id for t in sorted(transactions, key=lambda t: (t.timestamp, t.pk), reverse=True)]
    assert seen == expected
    assert [len(p["results"]) for p in pages] == [3, 3, 3, 2]
    # previous goes back to exactly the page before, and from the second page to the first
    back = reader.get(pages[2]["previous"]).json()
    assert [r["transaction_id"] for r in back["results"]] == [r["transaction_id"] for r in pages[1]["results"]]
    again = reader.get(back["previous"]).json()
    assert [r["transaction_id"] for r in again["results"]] == [r["transaction_id"] for r in pages[0]["results"]]
    assert again["previous"] is None


def test_cursor_pages_follow_a_requested_ordering(reader: APIClient, transactions: list[Transaction]) -> None:
    first = reader.get("/api/v1/transactions/", {"page_size": 4, "ordering": "amount"}).json()
    seen = [r["transaction_id"] for p in _walk(reader, first, "transaction_id") for r in p["results"]]
    assert sorted(seen) == sorted(t.transaction_id for t in transactions) and len(seen) == 11


def test_rows_written_after_the_first_page_are_not_shown_twice(
    reader: APIClient, transactions: list[Transaction]
) -> None:
    first = reader.get("/api/v1/transactions/", {"page_size": 5}).json()
    TransactionFactory(client=transactions[0].client, transaction_id="PG-NEW")  # newest of all
    second = reader.get(first["next"]).json()
    shown = {r["transaction_id"] for r in first["results"]} & {r["transaction_id"] for r in second["results"]}
    assert not shown and "PG-NEW" not in {r["transaction_id"] for r in second["results"]}


def test_the_count_is_bounded(
    reader: APIClient, transactions: list[Transaction], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(KeysetPagination, "COUNT_LIMIT", 10)
    assert reader.get("/api/v1/transactions/").json()["count"] is None
    assert reader.get("/api/v1/transactions/", {"transaction_id": "PG03"}).json()["count"] == 1


def test_page_numbers_still_work_for_existing_clients(reader: APIClient, transactions: list[Transaction]) -> None:
    second = reader.get("/api/v1/transactions/", {"page": 2, "page_size": 5}).json()
    assert second["count"] == 11 and len(second["results"]) == 5 and "page=3" in second["next"]
    assert reader.get("/api/v1/transactions/", {"page": 9}).status_code == 404


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "bm9wZQ==",
        "cD0yMDI2Jmk9MQ==",
        "cD1ub3QtYS1kYXRlJmk9MQ==",
        "cD0yMDI2LTAxLTAxVDAwOjAwOjAwJmk9MQ==",
        "Y" * 400,
    ],
)
def test_a_bad_cursor_is_a_400_naming_it(reader: APIClient, transactions: list[Transaction], cursor: str) -> None:
    response = reader.get("/api/v1/transactions/", {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert "cursor" in response.json()["fields"]


@pytest.mark.parametrize("cursor", ["x", "bm9wZQ==", "Y" * 400])
def test_a_bad_cursor_beside_a_bad_ordering_is_named_with_it(
    reader: APIClient, transactions: list[Transaction], cursor: str
) -> None:
    """One answer names every bad parameter: the cursor no page gave is not hidden by the ordering."""
    response = reader.get("/api/v1/transactions/", {"ordering": "nope", "cursor": cursor})
    assert response.status_code == 400, response.content
    assert {"ordering", "cursor"} <= set(response.json()["fields"])
    good = reader.get("/api/v1/transactions/", {"page_size": 2}).json()["next"]
    response = reader.get(good.replace("?", "?ordering=nope&"))
    assert set(response.json()["fields"]) == {"ordering"}  # a page's own cursor: only the ordering is wrong


def _cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode("ascii")).decode("ascii")


@pytest.mark.parametrize(
    "position",
    ["p=1e-999999&i=1", "p=1e131072&i=1", "p=1E-16384&i=1", "p=0.001&i=1", "p=1e20&i=1", "p=1&i=99999999999999999999"],
)
def test_a_cursor_naming_an_amount_no_row_can_have_is_a_400(
    reader: APIClient, transactions: list[Transaction], position: str
) -> None:
    """Beyond numeric(14, 2) PostgreSQL overflows (a 500 before): refused as any bad cursor."""
    response = reader.get("/api/v1/transactions/", {"ordering": "amount", "cursor": _cursor(position)})
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["cursor"] == ["Invalid cursor: use the next or previous link of a page."]


def test_a_cursor_inside_the_amount_column_still_pages(reader: APIClient, transactions: list[Transaction]) -> None:
    response = reader.get("/api/v1/transactions/", {"ordering": "amount", "cursor": _cursor("p=0.00&i=0")})
    assert response.status_code == 200 and len(response.json()["results"]) == 11


@pytest.mark.parametrize("probability", ["nan", "inf", "-inf", "1e400"])
def test_a_cursor_naming_a_probability_that_is_no_number_is_a_400(
    reader: APIClient, credit_model: Any, probability: str
) -> None:
    """``nan`` compares to nothing: it answered an empty page as if the list had ended."""
    position = f"p={probability}&i=00000000-0000-0000-0000-000000000000"
    response = reader.get("/api/v1/predictions/", {"ordering": "probability_default", "cursor": _cursor(position)})
    assert response.status_code == 400, response.content
    assert "cursor" in response.json()["fields"]


def test_predictions_page_by_cursor(reader: APIClient, credit_model: Any, key_client: Callable[..., APIClient]) -> None:
    scorer = key_client("analyst", ["score", "read"])
    for age in (30, 40, 50):
        assert (
            scorer.post("/score", {"age": age, "revenu": 200, "historique_impaye": 0}, format="json").status_code == 201
        )
    Decision.objects.update(created_at=timezone.now())  # one instant, as a batch chunk's rows
    first = reader.get("/api/v1/predictions/", {"page_size": 2}).json()
    assert first["count"] == 3
    second = reader.get(first["next"]).json()
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert sorted(ids) == sorted(str(pk) for pk in Decision.objects.values_list("pk", flat=True))
    assert second["next"] is None


def test_admin_decision_search_is_exact_by_the_term_s_shape(
    credit_model: Any, key_client: Callable[..., APIClient]
) -> None:
    scorer = key_client("analyst", ["score", "read"])
    ClientFactory(client_id="C777")
    ClientFactory(client_id="C7770")
    for client_id in ("C777", "C7770", "C7770"):
        body = {"age": 40, "revenu": 200, "historique_impaye": 0, "client_id": client_id}
        assert scorer.post("/score", body, format="json").status_code == 201
    decisions = Decision.objects.all()
    assert decision_search(decisions, "C777").count() == 1  # not C7770's (no icontains)
    assert decision_search(decisions, " C7770 ").count() == 2
    one = Decision.objects.first()
    assert one is not None
    assert list(decision_search(decisions, str(one.pk))) == [one]
    assert decision_search(decisions, one.caller).count() == 3
    superuser = BrowserClient()
    superuser.force_login(get_user_model().objects.create_superuser("pager", "pager@example.test", None))
    page = superuser.get("/admin/scoring/decision/", {"q": "C7770"})
    assert page.status_code == 200 and page.context["cl"].result_count == 2


def test_the_admin_paginator_estimates_beyond_its_exact_bound(transactions: list[Transaction]) -> None:
    paginator = EstimatedCountPaginator(Transaction.objects.order_by("-timestamp"), 4)
    assert paginator.count == 11  # exact below the bound
    EstimatedCountPaginator.EXACT_UP_TO, saved = 5, EstimatedCountPaginator.EXACT_UP_TO
    try:
        estimated = EstimatedCountPaginator(Transaction.objects.order_by("-timestamp"), 4).count
    finally:
        EstimatedCountPaginator.EXACT_UP_TO = saved
    assert estimated >= 6  # the planner's estimate, never below what was counted


@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_the_probed_date_hierarchy_lists_what_distinct_would(kind: str) -> None:
    from creditplatform.admin_mixins import ProbedDatesQuerySet

    client = ClientFactory()
    base = dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC)
    for days in (0, 1, 3, 40, 400, 800):
        TransactionFactory(client=client, timestamp=base + dt.timedelta(days=days))
    plain = Transaction.objects.all()
    probed = Transaction.objects.all()
    probed.__class__ = type("Probed", (ProbedDatesQuerySet, type(plain)), {})
    if kind == "day":
        plain, probed = (q.filter(timestamp__year=2025, timestamp__month=1) for q in (plain, probed))
    assert list(probed.datetimes("timestamp", kind)) == list(plain.datetimes("timestamp", kind))
    assert list(probed.datetimes("timestamp", kind, order="DESC")) == list(
        plain.datetimes("timestamp", kind, order="DESC")
    )
