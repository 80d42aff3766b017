"""The OpenAPI document describes /score with the seed payload, and the docs pages work offline."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient


@pytest.fixture(scope="module")
def schema() -> dict:
    from io import StringIO

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


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
