"""Every bad request is a 4xx JSON body naming the problem; never a 500 or a stack trace."""

from __future__ import annotations

import gzip
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


def _post_raw(api: APIClient, body: bytes | str, content_type: str = "application/json"):
    return api.generic("POST", URL, body, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "Malformed JSON"),
        ('{"client_id": "C1",}', "Malformed JSON"),
        ('{"client_id": NaN}', "NaN"),
        ('{"client_id": Infinity}', "Infinity"),
        (b"\xff\xfe\x00", "UTF-8"),
        ('{"client_id": "\\ud800"}', "unpaired surrogate"),
        ('{"client_id": "C1", "\\udfff": 1}', "unpaired surrogate"),
        ('{"client_id": "C1", "address": ["\\ud83d x"]}', "unpaired surrogate"),
    ],
)
def test_malformed_json_is_a_400_saying_why(analyst: APIClient, body: str | bytes, message: str) -> None:
    response = _post_raw(analyst, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "malformed_request"
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json; charset=latin-1", '{"client_id": "C1", "last_name": "Zoé"}'.encode("latin-1")),
        ("application/json; charset=utf-16", '{"client_id": "C1"}'.encode("utf-16")),
    ],
    ids=["latin-1", "utf-16"],
)
def test_a_body_in_another_charset_is_refused_saying_json_is_utf_8(
    analyst: APIClient, content_type: str, body: bytes
) -> None:
    """The caller declared its charset: the answer says JSON is UTF-8 and names the charset sent,
    rather than only that the body is not UTF-8; nothing is stored."""
    response = _post_raw(analyst, body, content_type=content_type)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "JSON is always UTF-8" in detail and f"charset={content_type.rsplit('=', 1)[1]}" in detail
    assert not Client.objects.exists()


def test_a_body_is_read_as_utf_8_whatever_charset_it_declares(analyst: APIClient) -> None:
    body = '{"client_id": "C1", "last_name": "Zoé"}'.encode()
    assert _post_raw(analyst, body, content_type="application/json; charset=latin-1").status_code == 201
    assert Client.objects.get(client_id="C1").last_name == "Zoé"


def test_a_surrogate_pair_and_an_escaped_backslash_are_text(analyst: APIClient) -> None:
    body = '{"client_id": "C1", "address": "\\ud83d\\ude00 \\\\ud800"}'
    response = _post_raw(analyst, body)
    assert response.status_code == 201
    assert Client.objects.get(client_id="C1").address == "\U0001f600 \\ud800"


REPEATED = ["Sent more than once in one object: send this field once."]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (URL, '{"client_id": "C1", "last_name": "Doe", "last_name": "Roe"}', "last_name"),
        ("/score", '{"age": 35, "revenu": 1000, "historique_impaye": 1, "revenu": 90000}', "revenu"),
        ("/api/v1/fraude", '{"transaction_id": "T1", "client_id": "C1", "montant": 5, "montant": 50000}', "montant"),
        # nested: one applicant of a batch
        ("/api/v1/score/batch", '{"items": [{"age": 35, "age": 70, "revenu": 1, "historique_impaye": 0}]}', "age"),
        # a colon inside a value, or an escaped one, does not hide the repeat
        (URL, '{"client_id": "C1", "address": "a:b", "address": "c"}', "address"),
        (URL, '{"client_id": "C1", "address": "\\u003a", "address": "c"}', "address"),
    ],
    ids=["client", "score", "fraude", "batch-item", "colon-in-value", "escaped-colon"],
)
@pytest.mark.usefixtures("credit_model")  # a champion serves: the body is what is refused
def test_a_key_sent_twice_in_one_object_is_a_400_naming_it(
    key_client: Callable[..., APIClient], path: str, body: str, field: str
) -> None:
    """The last value was kept without a word: a gateway reading the first saw another applicant."""
    api = key_client("analyst", ["read", "score", "fraud"])
    response = api.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["fields"] == {field: REPEATED}
    assert not Client.objects.exists()


def test_colons_in_keys_and_values_and_escapes_are_no_repeat(analyst: APIClient) -> None:
    body = '{"client_id": "C1", "address": "12:30 rue de l\\u0027Horloge \\u003a", "first_name": "a:b:c"}'
    response = _post_raw(analyst, body)
    assert response.status_code == 201, response.content[:300]
    assert Client.objects.get(client_id="C1").address == "12:30 rue de l'Horloge :"


@pytest.mark.parametrize("path", [URL, "/score", "/api/v1/fraude"])
def test_a_chunked_body_without_a_length_is_a_411_not_missing_fields(analyst: APIClient, path: str) -> None:
    # gunicorn hands on a chunked body with no CONTENT_LENGTH; Django would read none of it.
    response = analyst.generic(
        "POST", path, b'{"client_id": "C1"}', content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="",
    )  # fmt: skip
    assert response.status_code == 411
    assert response.json()["error"] == "length_required"
    assert "Content-Length" in response.json()["detail"]
    assert not Client.objects.exists()


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


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"client_id": "C1", "first_name": ' + "9" * 5000 + "}", "first_name"),
        ('{"client_id": "C1", "address": [1, -' + "9" * 5000 + "]}", "address.1"),
        ("9" * 5000, "non_field_errors"),
    ],
)
def test_an_integer_too_long_to_read_is_a_400_naming_its_field(analyst: APIClient, body: str, field: str) -> None:
    """Python reads at most 4,300 digits; its own message (sys.set_int_max_str_digits) is not the caller's."""
    response = _post_raw(analyst, body)
    assert response.status_code == 400
    assert response.json()["fields"] == {field: ["A number of at most 4,300 digits is required."]}
    assert "sys." not in response.content.decode() and not Client.objects.exists()


def test_a_long_integer_in_a_body_malformed_further_on_names_the_malformation(analyst: APIClient) -> None:
    response = _post_raw(analyst, '{"first_name": ' + "9" * 5000 + ', "client_id": }')
    assert response.status_code == 400 and response.json()["error"] == "malformed_request"
    assert response.json()["detail"].startswith("Malformed JSON: Expecting value")


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


@pytest.mark.parametrize(
    "path",
    ["/api/v1/clients/C1/nothing-here/", "/api/v1/nothing", "/api/v2/clients/", "/api/", "/scorex", "/fraude/x"],
)
def test_unknown_routes_under_the_api_answer_json_404(analyst: APIClient, path: str) -> None:
    response = analyst.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "not_found", "detail": "No API endpoint at this path."}


@override_settings(DEBUG=True)
def test_unknown_api_routes_stay_json_with_debug_on(analyst: APIClient) -> None:
    response = analyst.get("/api/v1/nothing")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert b"urlpatterns" not in response.content  # not Django's debug page listing the routes


def test_pages_outside_the_api_keep_their_html_404(client_as: Callable[[str | None], APIClient]) -> None:
    response = client_as("admin").get("/admin/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_method_the_health_check_does_not_take_is_a_json_405(api_client: APIClient, method: str) -> None:
    response = getattr(api_client, method)("/api/v1/health")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "GET" in response["Allow"]


# --- hostile bodies: many keys ------------------------------------------------------------


def test_a_body_with_70000_unknown_keys_is_a_short_400(analyst: APIClient) -> None:
    body = "{" + ",".join(f'"k{i}":0' for i in range(70_000)) + "}"
    response = _post_raw(analyst, body)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_request"
    assert "an object has 70000, at most 1000" in response.json()["detail"]
    assert len(response.content) < 500
    assert not Client.objects.exists()


@override_settings(API_MAX_JSON_KEYS=3000)
def test_a_body_with_too_many_keys_in_all_is_a_400(analyst: APIClient) -> None:
    body = "[" + ",".join('{"a":1,"b":2,"c":3}' for _ in range(1001)) + "]"
    response = _post_raw(analyst, body)
    assert response.status_code == 400
    assert "the body has more than 3000" in response.json()["detail"]


def test_at_most_fifty_field_errors_are_listed_and_the_rest_counted(analyst: APIClient) -> None:
    response = analyst.post(URL, {"client_id": "C1", **{f"unknown_{i}": 1 for i in range(900)}}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert len(body["fields"]) == 50
    assert body["detail"] == "Invalid input: 900 fields have errors; the first 50 are listed."
    assert len(response.content) < 5000


def test_an_unknown_key_is_echoed_back_shortened(analyst: APIClient) -> None:
    response = analyst.post(URL, {"client_id": "C1", "x" * 100_000: 1}, format="json")
    assert response.status_code == 400
    (name,) = response.json()["fields"]
    assert name == "x" * 100 + "…"


def test_a_full_score_batch_is_within_the_key_limits(
    key_client: Callable[..., APIClient], credit_model: object
) -> None:
    item = {"age": 35, "revenu": 50000, "historique_impaye": 1, "seniority_years": 3, "home": "rent"}
    response = key_client("analyst", ["score"]).post("/api/v1/score/batch", {"items": [item] * 100}, format="json")
    assert response.status_code == 201


def test_method_not_allowed_is_json(analyst: APIClient) -> None:
    response = analyst.delete(URL)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_to_a_path_missing_its_slash_is_a_308_keeping_the_method_not_a_301(
    analyst: APIClient, method: str, debug: bool
) -> None:
    """``POST /api/v1/clients`` answered 301 (empty HTML) to ``/api/v1/clients/``: clients that follow
    it (curl -L, requests, browsers) switch to GET, so the write became a listing answered 200, and
    with DEBUG on it was a 500. A 308 keeps the method and the body, and says so in JSON."""
    with override_settings(DEBUG=debug):
        response = getattr(analyst, method)("/api/v1/clients?x=1", {"client_id": "C1", "last_name": "M"}, format="json")
    assert response.status_code == 308, response.content[:200]
    assert response["Location"] == "/api/v1/clients/?x=1"
    assert response.json()["error"] == "trailing_slash"
    assert "/api/v1/clients/" in response.json()["detail"]
    assert not Client.objects.exists()
    # Reads keep their 301, saying where in JSON too; a path with no slashed twin stays a JSON 404.
    read = analyst.get("/api/v1/clients?x=1")
    assert (read.status_code, read["Location"], read.json()["error"]) == (301, "/api/v1/clients/?x=1", "trailing_slash")
    assert analyst.post("/api/v1/nothing", {}, format="json").status_code == 404


@pytest.mark.parametrize("method", ["post", "get"])
@pytest.mark.parametrize("path", ["/score/", "/fraude/", "/api/v1/score/", "/api/v1/score/batch/", "/api/v1/webhooks/"])
def test_a_path_sent_with_a_slash_it_does_not_have_is_redirected_to_it_not_a_404(
    analyst: APIClient, path: str, method: str
) -> None:
    """``POST /score/`` was a 404 "No API endpoint at this path.": a client that added a slash
    (the FastAPI service the seed clients called redirected it) lost its decision with no hint.
    A write gets a 308 to the path without the slash (method and body kept), a read a 301."""
    if method == "post":
        response = analyst.post(f"{path}?x=1", {"age": 35}, format="json")
    else:
        response = analyst.get(f"{path}?x=1")
    assert response.status_code == (308 if method == "post" else 301), response.content[:200]
    assert response["Location"] == f"{path[:-1]}?x=1"
    assert response.json()["error"] == "trailing_slash"
    assert f"send the {method.upper()} to {path[:-1]}" in response.json()["detail"]
    # Paths without a twin keep their JSON 404.
    assert getattr(analyst, method)("/api/v1/nothing/").status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/score", b'{"age": 35, "revenu": 50000, "historique_impaye": 1}'),
        ("/fraude", b'{"transaction_id": "TX12345", "montant": 2000, "type": "virement", "client_id": "C1001"}'),
        (URL, b'{"client_id": "C1001"}'),
    ],
)
@pytest.mark.usefixtures("credit_model", "fraud_model")
def test_a_body_starting_with_a_utf_8_byte_order_mark_is_read(
    key_client: Callable[..., APIClient], path: str, body: bytes
) -> None:
    """Windows tools (PowerShell, .NET's UTF8Encoding, Notepad) write a BOM before the JSON: the
    seed's payloads were a 400 "Unexpected UTF-8 BOM (decode using utf-8-sig)". RFC 8259 §8.1
    lets a parser ignore it, and nothing else in the body is read differently."""
    api = key_client("analyst", ["read", "score", "fraud"])
    response = api.generic("POST", path, b"\xef\xbb\xbf" + body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]
    # The mark alone is still an empty body, and one inside the JSON is still malformed.
    for malformed in (b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf" + body):
        refused = api.generic("POST", path, malformed, content_type="application/json")
        assert (refused.status_code, refused.json()["error"]) == (400, "malformed_request")


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate, gzip", "x-compress"])
@pytest.mark.parametrize("path", ["/score", "/api/v1/fraude", URL])
def test_a_compressed_body_is_a_415_naming_content_encoding(analyst: APIClient, path: str, encoding: str) -> None:
    """A gzip body was a 400 "not valid UTF-8", and a ``Content-Encoding: br`` whose body was plain
    JSON was read as if not encoded: the API reads bodies as sent. RFC 7694: a 415 saying which
    coding it takes (``Accept-Encoding: identity``); nothing stored."""
    body = gzip.compress(b'{"client_id": "C1"}') if encoding == "gzip" else b'{"client_id": "C1"}'
    response = analyst.generic(
        "POST", path, body, content_type="application/json", HTTP_CONTENT_ENCODING=encoding
    )  # fmt: skip
    assert response.status_code == 415, response.content[:300]
    assert response["Accept-Encoding"] == "identity"
    assert response.json()["error"] == "unsupported_content_encoding"
    assert response.json()["fields"] == {"Content-Encoding": [f"Send the body uncompressed, not {encoding}."]}
    assert not Client.objects.exists()
    # "identity" is no coding at all.
    plain = analyst.generic(
        "POST", URL, b'{"client_id": "C1"}', content_type="application/json", HTTP_CONTENT_ENCODING="identity"
    )  # fmt: skip
    assert plain.status_code == 201
