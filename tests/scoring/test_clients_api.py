"""The clients API: who may read and write, validation, pagination and filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.test import APIClient

from scoring.models import Client
from scoring.services import CLIENT_ID_TAKEN, client_create
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/clients/"
VALID = {
    "client_id": "C1001",
    "first_name": "Camille",
    "last_name": "Martin",
    "email": "camille.martin@example.test",
    "phone": "+33 6 12 34 56 78",
    "birth_date": "1986-04-02",
    "address": "12 rue de la Paix\n75002 Paris",
}


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        ("admin", 200, 201),
        ("analyst", 200, 201),
        ("viewer", 200, 403),
        ("compliance", 403, 403),
        (None, 401, 401),
    ],
)
def test_each_role_reads_and_writes_clients_as_the_matrix_says(
    client_as: Callable[[str | None], APIClient], role: str | None, read: int, write: int
) -> None:
    ClientFactory(client_id="C0001")
    api = client_as(role)
    assert api.get(URL).status_code == read
    assert api.get(f"{URL}C0001/").status_code == read
    assert api.post(URL, VALID, format="json").status_code == write
    assert api.patch(f"{URL}C0001/", {"first_name": "Zoé"}, format="json").status_code == (
        200 if write == 201 else write
    )


@pytest.mark.parametrize(
    ("role", "scopes", "read", "write"),
    [
        ("analyst", None, 200, 201),
        ("viewer", None, 200, 403),
        ("analyst", ["fraud"], 403, 403),
        ("analyst", ["read"], 200, 403),
    ],
)
def test_api_keys_read_and_write_clients_by_role_and_scope(
    key_client: Callable[..., APIClient], role: str, scopes: list[str] | None, read: int, write: int
) -> None:
    api = key_client(role, scopes)
    assert api.get(URL).status_code == read
    assert api.post(URL, VALID, format="json").status_code == write


def test_an_analyst_creates_a_client_and_reads_it_back(client_as: Callable[[str | None], APIClient]) -> None:
    api = client_as("analyst")
    created = api.post(URL, VALID, format="json")
    assert created.status_code == 201, created.json()
    body = api.get(f"{URL}C1001/").json()
    assert {k: body[k] for k in VALID} == VALID
    assert Client.objects.get(client_id="C1001").last_name == "Martin"


def test_a_client_cannot_be_deleted_through_the_api(client_as: Callable[[str | None], APIClient]) -> None:
    ClientFactory(client_id="C0001")
    assert client_as("admin").delete(f"{URL}C0001/").status_code == 405
    assert Client.objects.filter(client_id="C0001").exists()


def test_the_external_id_cannot_change(client_as: Callable[[str | None], APIClient]) -> None:
    ClientFactory(client_id="C0001")
    response = client_as("analyst").patch(f"{URL}C0001/", {"client_id": "C0002"}, format="json")
    assert response.status_code == 400
    assert "client_id" in response.json()["fields"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", ""),
        ("client_id", "C 1001"),
        ("client_id", "x" * 65),
        ("email", "not-an-email"),
        ("phone", "call me"),
        ("birth_date", "2190-01-01"),
        ("birth_date", "1800-01-01"),
        ("birth_date", "31/12/1980"),
        ("first_name", "x" * 101),
        ("first_name", "Eve\u0000"),
        ("first_name", 42.5),
        ("address", ["a", "list"]),
        ("favourite_colour", "blue"),
    ],
)
def test_invalid_identity_fields_are_refused_with_400_naming_the_field(
    client_as: Callable[[str | None], APIClient], field: str, value: object
) -> None:
    response = client_as("analyst").post(URL, {**VALID, field: value}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert list(body["fields"]) == [field]
    assert not Client.objects.exists()


def test_a_duplicate_client_id_is_refused(client_as: Callable[[str | None], APIClient]) -> None:
    ClientFactory(client_id="C1001")
    response = client_as("analyst").post(URL, VALID, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["fields"]["client_id"][0]


def test_lists_are_paginated_and_page_size_is_clamped(client_as: Callable[[str | None], APIClient]) -> None:
    ClientFactory.create_batch(120)
    api = client_as("viewer")
    first = api.get(URL).json()
    assert first["count"] == 120
    assert len(first["results"]) == 50
    assert first["next"]
    assert len(api.get(URL, {"page_size": 1_000_000}).json()["results"]) == 100
    assert api.get(URL, {"page": 99}).status_code == 404


def test_lists_filter_by_client_id_and_name_and_search(client_as: Callable[[str | None], APIClient]) -> None:
    ClientFactory(client_id="C1", last_name="Durand")
    ClientFactory(client_id="C2", last_name="Petit")
    api = client_as("viewer")
    assert [c["client_id"] for c in api.get(URL, {"client_id": "C2"}).json()["results"]] == ["C2"]
    assert [c["client_id"] for c in api.get(URL, {"last_name": "durand"}).json()["results"]] == ["C1"]
    assert [c["client_id"] for c in api.get(URL, {"search": "Peti"}).json()["results"]] == ["C2"]
    bad = api.get(URL, {"created_after": "yesterday"})
    assert bad.status_code == 400
    assert "created_after" in bad.json()["fields"]


def test_a_client_id_inserted_by_a_concurrent_request_is_the_same_400(
    client_as: Callable[[str | None], APIClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two POSTs of one new id: the one whose checks ran before the other's insert loses with a 400, not a 500."""
    checked = Client.full_clean

    def racing(client: Client, *args: Any, **kwargs: Any) -> None:
        checked(client, *args, **kwargs)  # every check passed: the id was free ...
        ClientFactory(client_id=client.client_id)  # ... until a concurrent request inserted it

    monkeypatch.setattr(Client, "full_clean", racing)
    response = client_as("analyst").post(URL, VALID, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"client_id": [CLIENT_ID_TAKEN]}


def test_creating_an_existing_client_id_keeps_the_caller_s_transaction() -> None:
    ClientFactory(client_id="C1001")
    with transaction.atomic():
        with pytest.raises(ValidationError) as raised:
            client_create(client_id="C1001", first_name="Camille")
        assert raised.value.message_dict == {"client_id": [CLIENT_ID_TAKEN]}
        assert Client.objects.count() == 1  # the transaction still answers
