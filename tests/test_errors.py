"""Every bad request is a 4xx JSON body naming the problem; never a 500 or a stack trace."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from scoring.models import Client

pytestmark = pytest.mark.django_db

URL = "/api/v1/clients/"


@pytest.fixture
def analyst(key_client: Callable[..., APIClient]) -> APIClient:
    return key_client("analyst")


def _post_raw(api: APIClient, body: bytes | str, content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    return api.generic("POST", URL, body, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "Malformed JSON"),
        ('{"client_id": "C1",}', "Malformed JSON"),
        ('{"client_id": NaN}', "NaN"),
        ('{"client_id": Infinity}', "Infinity"),
        (b"\xff\xfe\x00", "UTF-8"),
    ],
)
def test_malformed_json_is_a_400_saying_why(analyst: APIClient, body: str | bytes, message: str) -> None:
    response = _post_raw(analyst, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "malformed_request"
    assert message in response.json()["detail"]


def test_an_empty_body_names_the_required_fields(analyst: APIClient) -> None:
    response = _post_raw(analyst, "")
    assert response.status_code == 400
    assert response.json()["fields"] == {"client_id": ["This field is required."]}


def test_deeply_nested_json_is_a_400_not_a_recursion_crash(analyst: APIClient) -> None:
    response = _post_raw(analyst, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    assert "nested deeper" in response.json()["detail"]


def test_nesting_inside_a_field_is_refused_naming_the_field(analyst: APIClient) -> None:
    body = '{"client_id": "C1", "address": ' + "[" * 20 + "]" * 20 + "}"
    response = _post_raw(analyst, body)
    assert response.status_code == 400
    assert "address" in response.json()["fields"]


def test_brackets_inside_strings_do_not_count_as_nesting(analyst: APIClient) -> None:
    response = analyst.post(URL, {"client_id": "C1", "address": "[" * 500}, format="json")
    assert response.status_code == 201


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_an_oversized_body_is_a_json_413(analyst: APIClient) -> None:
    response = analyst.post(URL, {"client_id": "C1", "address": "x" * 20_000}, format="json")
    assert response.status_code == 413
    assert response.json() == {"error": "payload_too_large", "detail": "Request body is too large."}
    assert not Client.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(analyst: APIClient) -> None:
    response = analyst.post(URL, ["C1"], format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_an_unsupported_content_type_is_a_415(analyst: APIClient) -> None:
    response = _post_raw(analyst, "client_id=C1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_wrong_types_name_each_field(analyst: APIClient) -> None:
    response = analyst.post(URL, {"client_id": ["C1"], "birth_date": 19800101, "email": {"a": 1}}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"client_id", "birth_date", "email"}


def test_unknown_routes_under_the_api_answer_json_404(analyst: APIClient) -> None:
    response = analyst.get("/api/v1/clients/C1/nothing-here/")
    assert response.status_code == 404


def test_method_not_allowed_is_json(analyst: APIClient) -> None:
    response = analyst.delete(URL)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
