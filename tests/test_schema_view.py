"""``GET /api/schema/``: the OpenAPI document echoes no query into itself, and errors are JSON."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_a_version_query_is_ignored_not_echoed(api_client: APIClient) -> None:
    plain = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert plain.status_code == 200
    for version in ("\x00", "\x7f", "\r\nX-Injected: 1", 'abc";x=1', "2"):
        response = api_client.get("/api/schema/", {"version": version}, HTTP_ACCEPT="application/json")
        assert response.status_code == 200, version
        assert response.json()["info"]["version"] == plain.json()["info"]["version"]
        assert response["Content-Disposition"] == plain["Content-Disposition"]
        assert "X-Injected" not in response


def test_an_unknown_format_is_the_apis_json_404(api_client: APIClient) -> None:
    response = api_client.get("/api/schema/", {"format": "bogus"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"
