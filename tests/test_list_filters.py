"""Every query parameter of every list endpoint: a hostile value is a 400 naming it, never a 500.

Found by fuzzing the OpenAPI schema: ``?after=0770-01-10T09:41:56+18:32`` answered 500 on
PostgreSQL (which refuses UTC offsets beyond ±15:59), and so did ``created_after``. These
tests walk each endpoint's parameters with dates out of range, huge and non-numeric
numbers, bad choices, over-long and control-character strings; they matter most on
PostgreSQL (``DATABASE_URL``), where the 500s were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import ClientFactory, TransactionFactory

pytestmark = pytest.mark.django_db

ENDPOINTS: dict[str, dict[str, str]] = {
    # parameter -> kind
    "/api/v1/clients/": {
        "client_id": "id",
        "last_name": "text",
        "created_after": "datetime",
        "created_before": "datetime",
        "search": "text",
        "ordering": "ordering",
    },
    "/api/v1/predictions/": {
        "created_after": "datetime",
        "created_before": "datetime",
        "decision": "choice",
        "risk_level": "choice",
        "model_version": "text",
        "client_id": "id",
        "application_id": "id",
        "ordering": "ordering",
    },
    "/api/v1/models/": {"purpose": "choice", "status": "choice", "search": "text", "ordering": "ordering"},
    "/api/v1/transactions/": {
        "client_id": "id",
        "transaction_id": "id",
        "after": "datetime",
        "before": "datetime",
        "decision": "choice",
        "risk_level": "choice",
        "type": "choice",
        "alert_status": "choice",
        "resolution": "choice",
        "resolved_after": "datetime",
        "ordering": "ordering",
    },
}
for _parameters in ENDPOINTS.values():
    _parameters.update({"page": "page", "page_size": "page"})

HOSTILE: dict[str, list[str]] = {
    "datetime": [
        "0770-01-10T09:41:56+18:32",  # the fuzzer's find: PostgreSQL refuses the offset
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
        "2026-01-01T00:00:00+24:00",
        "2026-13-45T00:00:00Z",
        "not-a-date",
        "1e400",
        "NaN",
        "2026-01-01T00:00:00Z\x00",
        "9" * 300,
    ],
    "id": ["x" * 65, "C 1001", "C1001\n", "\x00", "é" * 10],
    "text": ["x" * 101, "Martin\x00", "Martin\x1b[31m"],
    "choice": ["nope", "\x00", "x" * 1000],
    "ordering": ["nope", "-nope", "created_at,nope", "x" * 1000, "\x00"],
    "page": ["0", "-1", "abc", "9" * 30, "1e5", "NaN", "Infinity", "\x00"],
}


def _cases() -> list[Any]:
    return [
        pytest.param(path, name, value, id=f"{path.split('/')[3]}-{name}-{value[:20]!r}")
        for path, parameters in ENDPOINTS.items()
        for name, kind in parameters.items()
        for value in HOSTILE[kind]
    ]


@pytest.fixture
def reader(key_client: Callable[..., APIClient]) -> APIClient:
    ClientFactory(client_id="K-1001", last_name="Martin")
    TransactionFactory(transaction_id="TX1")
    return key_client("analyst", ["read"])


@pytest.mark.parametrize(("path", "name", "value"), _cases())
def test_a_hostile_query_value_is_a_400_naming_the_parameter(
    reader: APIClient, path: str, name: str, value: str
) -> None:
    response = reader.get(path, {name: value})
    assert response.status_code == 400, (response.status_code, response.content[:300])
    messages = response.json()["fields"][name]
    assert len(set(messages)) == len(messages), messages  # each said once ("x" * 65: length and pattern agree)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/transactions/", {"after": "0001-01-01T00:00:00Z"}),
        ("/api/v1/transactions/", {"before": "9999-12-31T23:59:59Z"}),
        ("/api/v1/transactions/", {"after": "2026-01-01T00:00:00+14:00"}),
        ("/api/v1/transactions/", {"after": "2026-01-01"}),
        ("/api/v1/predictions/", {"created_after": "0001-01-01T00:00:00Z"}),
        ("/api/v1/predictions/", {"created_before": "9999-12-31T23:59:59.999999+00:00"}),
        ("/api/v1/clients/", {"created_after": "1970-01-01T00:00:00-12:00"}),
        ("/api/v1/clients/", {"ordering": "-created_at,client_id", "page_size": "1000"}),
        ("/api/v1/clients/", {"search": "Martin", "last_name": "martin", "client_id": "K-1001"}),
        ("/api/v1/models/", {"ordering": "version", "page": "1"}),
        ("/api/v1/transactions/", {"client_id": "", "decision": ""}),  # empty: no filter
    ],
)
def test_extreme_but_valid_values_are_answered(reader: APIClient, path: str, query: dict[str, str]) -> None:
    assert reader.get(path, query).status_code == 200


def test_a_time_with_an_offset_filters_by_the_same_instant_in_utc(reader: APIClient) -> None:
    from django.utils import timezone

    now = timezone.now()
    just_before = (now - dt.timedelta(minutes=1)).astimezone(dt.timezone(dt.timedelta(hours=14)))
    just_after = (now + dt.timedelta(minutes=1)).astimezone(dt.timezone(dt.timedelta(hours=-12)))
    listed = reader.get("/api/v1/transactions/", {"after": just_before.isoformat()}).json()
    assert [t["transaction_id"] for t in listed["results"]] == ["TX1"]
    assert reader.get("/api/v1/transactions/", {"after": just_after.isoformat()}).json()["count"] == 0


def test_a_page_past_the_last_is_a_404_and_the_page_size_is_still_clamped(reader: APIClient) -> None:
    assert reader.get("/api/v1/clients/", {"page": "2"}).status_code == 404
    listed = reader.get("/api/v1/clients/", {"page_size": "5000"}).json()
    assert listed["count"] == 2 and len(listed["results"]) == 2  # K-1001 and TX1's client


# Every list endpoint and the query parameters it reads: its filters, ordering and search
# where it orders and searches, its paginator's, and ``format`` (content negotiation).
ACCEPTED: dict[str, list[str]] = {
    "/api/v1/clients/": [
        *["client_id", "created_after", "created_before", "format", "last_name", "ordering", "page", "page_size"],
        "search",
    ],
    "/api/v1/predictions/": [
        *["application_id", "batch_job", "client_id", "created_after", "created_before", "cursor", "decision"],
        *["format", "model_version", "ordering", "page", "page_size", "risk_level"],
    ],
    "/api/v1/models/": ["format", "ordering", "page", "page_size", "purpose", "search", "status"],
    "/api/v1/transactions/": [
        *["after", "alert_status", "before", "client_id", "cursor", "decision", "format", "ordering", "page"],
        *["page_size", "resolution", "resolved_after", "risk_level", "transaction_id", "type"],
    ],
    "/api/v1/score/batch-jobs": ["format", "ordering", "page", "page_size", "status"],
    "/api/v1/webhooks": ["format"],
}


@pytest.fixture
def lister(key_client: Callable[..., APIClient]) -> APIClient:
    """Reads every list: the decision lists (batch jobs, webhooks) need the score scope."""
    return key_client("analyst", ["read", "score"])


def _unknown(accepted: list[str]) -> list[str]:
    return [f"Unknown query parameter. Accepted: {', '.join(accepted)}."]


@pytest.mark.parametrize("path", ACCEPTED)
def test_an_unknown_query_parameter_is_a_400_naming_it_and_the_accepted_ones(lister: APIClient, path: str) -> None:
    response = lister.get(path, {"decison": "refuse", "pagesize": "5"})
    assert response.status_code == 400, response.content[:300]
    assert response.json() == {
        "error": "validation_error",
        "detail": "Invalid input.",
        "fields": {"decison": _unknown(ACCEPTED[path]), "pagesize": _unknown(ACCEPTED[path])},
    }


def test_a_typo_in_a_filter_no_longer_lists_everything(reader: APIClient, lister: APIClient) -> None:
    """``?decison=refuse`` listed every transaction; the right name still filters, ``?format=`` still works."""
    TransactionFactory(transaction_id="TX2")
    typo = lister.get("/api/v1/transactions/", {"decison": "block", "client_id": "nobody"})
    assert typo.status_code == 400
    assert list(typo.json()["fields"]) == ["decison"]  # the known parameter is not blamed
    assert lister.get("/api/v1/transactions/", {"decision": "block", "format": "json"}).json()["count"] == 0
    assert lister.get("/api/v1/transactions/", {"page_size": "1", "page": "2"}).status_code == 200
    # The browsable API (outside production) still renders every list, webhooks included.
    for path in ACCEPTED:
        assert lister.get(path, HTTP_ACCEPT="text/html").status_code == 200, path
    # A detail reads no list parameters: it answers as before.
    assert lister.get("/api/v1/transactions/TX2/", {"decison": "block"}).status_code == 200
    assert lister.get("/api/v1/clients/K-1001/", {"nope": "1"}).status_code == 200


def test_every_list_accepts_what_its_openapi_document_lists_and_nothing_else(lister: APIClient) -> None:
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    lists = {
        path: sorted({p["name"] for p in op["get"].get("parameters", []) if p["in"] == "query"} | {"format"})
        for path, op in document["paths"].items()
        if "get" in op and "{" not in path and path.startswith("/api/v1/") and path != "/api/v1/health"
    }
    assert lists == ACCEPTED
    for path, accepted in lists.items():
        assert lister.get(path, {"nope": "1"}).json()["fields"] == {"nope": _unknown(accepted)}, path


@pytest.mark.parametrize("path", ACCEPTED)
def test_a_known_query_parameter_sent_twice_is_a_400_naming_it(lister: APIClient, path: str) -> None:
    """``?format=json&format=api``: no filter reads a list, and the last value alone was used."""
    response = lister.get(f"{path}?format=json&format=json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["fields"] == {"format": ["Sent more than once: send this parameter once."]}


def test_a_filter_sent_twice_no_longer_keeps_only_its_last_value(lister: APIClient) -> None:
    TransactionFactory(transaction_id="TX3")
    twice = lister.get("/api/v1/transactions/?decision=block&decision=allow")
    assert twice.status_code == 400
    assert list(twice.json()["fields"]) == ["decision"]
    assert lister.get("/api/v1/transactions/?decision=allow").status_code == 200


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/api/v1/transactions/", {"decison": "block", "decision": "nope"}, ["decison", "decision"]),
        ("/api/v1/predictions/", {"nope": "1", "created_after": "not-a-date"}, ["nope", "created_after"]),
        ("/api/v1/clients/", {"nope": "1", "ordering": "-nope"}, ["nope", "ordering"]),
        ("/api/v1/models/", {"nope": "1", "search": "x" * 101}, ["nope", "search"]),
        ("/api/v1/clients/", {"nope": "1", "page_size": "abc"}, ["nope", "page_size"]),
        ("/api/v1/clients/", {"nope": "1", "page": "0"}, ["nope", "page"]),
        ("/api/v1/transactions/", {"nope": "1", "cursor": "garbage"}, ["nope", "cursor"]),
        (
            "/api/v1/predictions/",
            {"nope": "1", "page_size": "0", "risk_level": "x"},
            ["nope", "page_size", "risk_level"],
        ),
        ("/api/v1/score/batch-jobs", {"nope": "1", "status": "x"}, ["nope", "status"]),
    ],
)
def test_an_unknown_parameter_and_a_bad_value_of_a_known_one_are_both_named(
    lister: APIClient, path: str, query: dict[str, str], named: list[str]
) -> None:
    """One answer names every mistake: fixing the typo, then meeting the next 400, is two round trips."""
    response = lister.get(path, query)
    assert response.status_code == 400, response.content[:300]
    fields = response.json()["fields"]
    assert sorted(fields) == sorted(named)
    assert fields[named[0]] == _unknown(ACCEPTED[path])


def test_a_parameter_sent_twice_and_a_bad_value_of_another_are_both_named(lister: APIClient) -> None:
    response = lister.get("/api/v1/transactions/?format=json&format=json&decision=nope")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert sorted(fields) == ["decision", "format"]
    assert fields["format"] == ["Sent more than once: send this parameter once."]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/predictions/", {"decision": "nope", "page_size": "0"}),
        ("/api/v1/transactions/", {"after": "not-a-date", "type": "nope", "cursor": "garbage"}),
        ("/api/v1/transactions/", {"ordering": "nope", "page_size": "-1"}),
        ("/api/v1/clients/", {"client_id": "C 1", "search": "x" * 101, "page": "0"}),
        ("/api/v1/models/", {"ordering": "nope", "page_size": "abc"}),
    ],
)
def test_bad_values_of_several_known_parameters_are_all_named_at_once(
    lister: APIClient, path: str, query: dict[str, str]
) -> None:
    """A bad filter stopped the checks: ``page_size`` was named only once ``decision`` was fixed."""
    response = lister.get(path, query)
    assert response.status_code == 400, response.content[:300]
    assert sorted(response.json()["fields"]) == sorted(query)
