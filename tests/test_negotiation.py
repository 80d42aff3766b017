"""The JSON-first content negotiation answers exactly as DRF's own does."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from creditplatform.api.negotiation import JsonFirstContentNegotiation
from creditplatform.api.renderers import OrjsonRenderer

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "",
    "text/html",
    "application/xml",
    "application/json; indent=4",
    "application/json;q=0.5, text/html",
    "text/html, */*;q=0.1",
    "application/*",
    "*/*; charset=utf-8",
    "APPLICATION/JSON",
    "image/png",
]
QUERIES = ["", "?page=2", "?format=json", "?format=api", "?format=xml", "?format="]
RENDERER_SETS = [
    [OrjsonRenderer()],
    [OrjsonRenderer(), BrowsableAPIRenderer()],
    [BrowsableAPIRenderer(), JSONRenderer()],
]


def _negotiate(negotiation: Any, accept: str | None, query: str, renderers: list[Any], suffix: str | None) -> Any:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/clients/{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
    except NotAcceptable as exc:
        return ("406", str(exc.detail))
    except Exception as exc:  # noqa: BLE001 - whatever DRF raises, ours must raise the same
        return (type(exc).__name__, str(exc))
    return (type(renderer).__name__, media_type)


def test_every_header_query_and_renderer_list_gets_drfs_own_answer() -> None:
    cases = [
        (accept, query, renderers, suffix)
        for accept in ACCEPTS
        for query in QUERIES
        for renderers in RENDERER_SETS
        for suffix in (None, "json", "api")
    ]
    differ = [
        (accept, query, [type(r).__name__ for r in renderers], suffix, ours, drf)
        for accept, query, renderers, suffix in cases
        if (ours := _negotiate(JsonFirstContentNegotiation(), accept, query, renderers, suffix))
        != (drf := _negotiate(DefaultContentNegotiation(), accept, query, renderers, suffix))
    ]
    assert differ == []
    # The shortcut is taken where it should be: the usual headers, nothing asked in the query.
    assert _negotiate(JsonFirstContentNegotiation(), None, "", RENDERER_SETS[1], None) == (
        "OrjsonRenderer",
        "application/json",
    )


@pytest.mark.django_db
def test_an_api_client_asking_for_html_is_refused_with_406_json() -> None:
    response = APIClient().get("/api/v1/health", HTTP_ACCEPT="image/png")
    assert response.status_code == 406
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json() or "error" in response.json()
