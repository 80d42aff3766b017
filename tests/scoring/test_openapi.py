"""The OpenAPI document describes /score with the seed payload, and the docs pages work offline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient


def generated() -> dict:
    from io import StringIO

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def schema() -> dict:
    return generated()


@pytest.mark.parametrize("path", ["/score", "/api/v1/score"])
def test_score_is_documented_with_the_seed_payload_as_example(schema: dict, path: str) -> None:
    post = schema["paths"][path]["post"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert {"age": 35, "revenu": 50000, "historique_impaye": 1} in [e["value"] for e in examples.values()]
    assert {"200", "201", "409", "503"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


def test_the_request_schema_names_the_seed_features_with_their_ranges(schema: dict) -> None:
    fields = schema["components"]["schemas"]["ScoreInputRequest"]["properties"]
    assert fields["age"]["minimum"] == 17 and fields["age"]["maximum"] == 120
    assert set(schema["components"]["schemas"]["ScoreInputRequest"]["required"]) == {
        "age",
        "revenu",
        "historique_impaye",
    }


def test_every_documented_path_exists(schema: dict) -> None:
    assert {"/api/v1/score/batch", "/api/v1/predictions/", "/api/v1/models/", "/api/v1/models/{id}/activate/"} <= set(
        schema["paths"]
    )


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_their_assets_from_this_server_not_a_cdn(page: str) -> None:
    html = APIClient().get(page).content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html and "googleapis" not in html
    assert "<script>" not in html  # start-up code comes from files: the Content-Security-Policy refuses inline scripts


def test_the_request_schema_lists_each_alias_with_its_feature(schema: dict) -> None:
    fields = schema["components"]["schemas"]["ScoreInputRequest"]["properties"]
    assert fields["montant_credit"]["minimum"] == fields["amount"]["minimum"]
    assert "alias of `amount`" in fields["montant_credit"]["description"]


def test_every_error_answer_is_documented_with_the_error_shape(schema: dict) -> None:
    """A client generated from the document knew no 400, 401, 403 or 429, nor the body of any error."""
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"] and set(error["properties"]) == {"error", "detail", "fields"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for code, response in responses.items():
                if code[0] in "45" and not (path == "/api/v1/health" and code == "503"):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            if path != "/api/v1/health":
                assert {"401", "403", "406", "429"} <= set(responses), (method, path)
            if "requestBody" in operation:
                assert {"400", "415"} <= set(responses), (method, path)
            if method == "get" and "{" not in path and path != "/api/v1/health":
                assert "400" in responses, path  # an unknown query parameter
            if "{" in path:
                assert "404" in responses, (method, path)


@pytest.mark.django_db
def test_the_errors_the_api_gives_have_the_documented_shape(schema: dict, key_client: Callable[..., APIClient]) -> None:
    import jsonschema

    error = schema["components"]["schemas"]["Error"]
    scorer, viewer = key_client("analyst", ["score", "read"]), key_client("viewer", ["read"])
    answers = {
        "400": scorer.post("/api/v1/clients/", {"client_id": "C 1", "last_name": "Martin"}, format="json"),
        "401": APIClient().post("/api/v1/score", {}, format="json"),
        "403": viewer.post("/api/v1/score", {}, format="json"),
        "404": scorer.get("/api/v1/clients/nobody/"),
        "406": scorer.get("/api/v1/clients/", HTTP_ACCEPT="application/xml"),
        "415": scorer.post("/api/v1/score", "age=35", content_type="text/plain"),
    }
    for code, response in answers.items():
        assert str(response.status_code) == code, (code, response.content)
        jsonschema.validate(response.json(), error)
    assert "client_id" in answers["400"].json()["fields"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/score", "post"),
        ("/api/v1/score", "post"),
        ("/api/v1/score/batch", "post"),
        ("/api/v1/score/batch-jobs", "post"),
    ],
)
def test_the_idempotency_key_is_documented_with_the_rule_the_api_applies(schema: dict, path: str, method: str) -> None:
    """It was a bare string: a key of 201 characters, valid by the document, is a 400."""
    [parameter] = [p for p in schema["paths"][path][method]["parameters"] if p["name"] == "Idempotency-Key"]
    assert parameter["in"] == "header" and not parameter.get("required", False)
    assert (parameter["schema"]["minLength"], parameter["schema"]["maxLength"]) == (1, 200)
    assert "printable" in parameter["description"]


def test_the_headers_of_the_answers_are_documented_and_sent(
    schema: dict, key_client: Callable[..., APIClient], credit_model: object
) -> None:
    """X-Request-ID, X-Model-Version and Idempotent-Replayed were sent but in no answer of the document."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                assert "X-Request-ID" in response.get("headers", {}), (path, method, code)
    for path in ("/score", "/api/v1/score", "/api/v1/score/batch", "/fraude", "/api/v1/fraude"):
        responses = schema["paths"][path]["post"]["responses"]
        assert "X-Model-Version" in responses["201"]["headers"], path
        assert {"X-Model-Version", "Idempotent-Replayed"} <= set(responses["200"]["headers"]), path
    scorer = key_client("analyst", ["score"])
    body = {"items": [{"age": 35, "revenu": 50000, "historique_impaye": 1}]}
    sent = [scorer.post("/api/v1/score/batch", body, format="json", HTTP_IDEMPOTENCY_KEY="h-1") for _ in range(2)]
    assert [r.status_code for r in sent] == [201, 200]
    for response in sent:
        assert response["X-Request-ID"] and response["X-Model-Version"] == credit_model.version  # type: ignore[attr-defined]
    assert sent[1]["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("component", "setting", "path", "item"),
    [
        (
            "ScoreBatchInputRequest",
            "SCORE_BATCH_MAX_ITEMS",
            "/api/v1/score/batch",
            {"age": 35, "revenu": 50000, "historique_impaye": 1},
        ),
        (
            "OutcomeImportInputRequest",
            "OUTCOME_IMPORT_MAX_ROWS",
            "/api/v1/outcomes",
            {"decision_id": "6770b84d-2b6b-453e-927c-b659df2f0578", "defaulted": False, "observed_on": "2026-11-30"},
        ),
    ],
)
def test_a_list_s_length_limits_are_documented_as_the_api_applies_them(
    schema: dict,
    key_client: Callable[..., APIClient],
    credit_model: object,
    settings: Any,
    component: str,
    setting: str,
    path: str,
    item: dict,
) -> None:
    """A client generated from the document learned the limit of a batch or an import from a 400."""
    items = schema["components"]["schemas"][component]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, getattr(settings, setting))
    setattr(settings, setting, 2)  # the document follows the setting, as the API does
    assert generated()["components"]["schemas"][component]["properties"]["items"]["maxItems"] == 2
    writer = key_client("analyst", ["score"])
    for count in (0, 3):
        response = writer.post(path, {"items": [item] * count}, format="json")
        assert response.status_code == 400 and "items" in response.json()["fields"], (count, response.json())


@pytest.mark.django_db
def test_the_statuses_any_body_or_page_can_get_are_documented(
    schema: dict, key_client: Callable[..., APIClient], settings: Any, credit_model: Any
) -> None:
    """The API answered 413 (a body over the limit), 411 (chunked, no length) and 415 (a compressed
    body) on every operation reading a body, and 404 for a page past the last on every paginated
    list, but the document listed none of them there (413 only on the batch-job upload)."""
    from tests.factories import ClientFactory

    ClientFactory(client_id="C1")
    admin = key_client("admin")
    decision = admin.post("/api/v1/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}, format="json")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    big = {"client_id": "C1", "address": "x" * 200}
    checked = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            pk = decision.json()["id"] if path.startswith("/api/v1/predictions/") else credit_model.pk
            url = path.replace("{id}", str(pk)).replace("{client_id}", "C1").replace("{transaction_id}", "T1")
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                send = getattr(admin, method)
                answers = {
                    "413": send(url, big, format="json"),
                    "411": admin.generic(method.upper(), url, b"{}", content_type="application/json",
                                         HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH=""),
                    "415": admin.generic(method.upper(), url, b"{}", content_type="application/json",
                                         HTTP_CONTENT_ENCODING="gzip"),
                }  # fmt: skip
                for code, response in answers.items():
                    assert str(response.status_code) == code, (method, path, response.content[:200])
                    assert code in operation["responses"], (method, path, code)
                checked.append((method, path))
            if method == "get" and any(p["name"] == "page" for p in operation.get("parameters", [])):
                response = admin.get(url, {"page": 999})
                assert response.status_code == 404, (path, response.content[:200])
                assert "404" in operation["responses"], (method, path)
                checked.append((method, path))
    assert ("post", "/score") in checked and ("get", "/api/v1/clients/") in checked
