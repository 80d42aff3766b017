"""Identifier patterns match the whole value: a trailing newline is not a valid id.

``re.match(r"^C[0-9]+$", "C1001\\n")`` succeeds, because ``$`` also matches before a final
newline. With such a check ``"C1001\\n"`` became a second client beside ``"C1001"``, one
that look-ups by ``C1001`` never found and erasure never reached.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from fraud.models import FraudRule
from scoring.ml.schema import Feature, SchemaError
from scoring.models import Client
from scoring.services import client_pks_get_or_create
from scoring.validators import (
    EXTERNAL_ID_PATTERN,
    external_id_validator,
    is_external_id,
    no_control_chars,
    no_control_chars_multiline,
    phone_validator,
)

TRAILING = ["C1001\n", "C1001\r\n", "C1001\x00", "C1001 ", " C1001"]


@pytest.mark.parametrize("value", TRAILING, ids=repr)
def test_an_id_with_a_trailing_or_leading_character_is_not_an_external_id(value: str) -> None:
    with pytest.raises(ValidationError):
        external_id_validator(value)


@pytest.mark.parametrize(
    ("validator", "good"),
    [
        (phone_validator, "+33 6 12 34 56 78"),
        (no_control_chars, "Camille"),
        (no_control_chars_multiline, "1 rue de la Paix\nParis"),
    ],
)
def test_free_text_validators_refuse_a_control_character_at_the_very_end(validator: object, good: str) -> None:
    validator(good)  # type: ignore[operator]
    with pytest.raises(ValidationError):
        validator(good + "\x00")  # type: ignore[operator]
    if validator is not no_control_chars_multiline:
        with pytest.raises(ValidationError):
            validator(good + "\n")  # type: ignore[operator]


def test_a_feature_name_ending_in_a_newline_is_refused() -> None:
    with pytest.raises(SchemaError):
        Feature("age\n")


@pytest.mark.django_db
def test_a_rule_name_ending_in_a_newline_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        FraudRule(name="high_amount\n", condition="amount > 1", action="review").full_clean()
    assert "name" in refused.value.message_dict


@pytest.mark.django_db
def test_the_client_service_refuses_a_malformed_id() -> None:
    with pytest.raises(ValidationError):
        client_pks_get_or_create(client_ids=["C1001\n"])
    assert not Client.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/score", {"age": 35, "revenu": 50000, "historique_impaye": 1, "client_id": "C1001\n"}, "client_id"),
        ("/score", {"age": 35, "revenu": 50000, "historique_impaye": 1, "application_id": "A1\n"}, "application_id"),
        ("/fraude", {"transaction_id": "TX1", "montant": 20, "type": "virement", "client_id": "C1001\n"}, "client_id"),
        (
            "/fraude",
            {"transaction_id": "TX1\n", "montant": 20, "type": "virement", "client_id": "C1001"},
            "transaction_id",
        ),
        ("/api/v1/clients/", {"client_id": "C1001\n"}, "client_id"),
    ],
    ids=["score client_id", "score application_id", "fraude client_id", "fraude transaction_id", "clients"],
)
def test_every_endpoint_refuses_an_id_ending_in_a_newline_and_creates_no_client(
    key_client: Callable[..., APIClient], credit_model: object, path: str, body: dict[str, object], field: str
) -> None:
    existing = Client.objects.create(client_id="C1001")
    response = key_client("analyst", ["score", "fraud"]).post(path, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert list(Client.objects.values_list("client_id", flat=True)) == [existing.client_id]


# ---- Properties (hypothesis): every id check agrees, for any text ------------------------

ID_LIKE = st.one_of(
    st.from_regex(EXTERNAL_ID_PATTERN, fullmatch=True),  # valid ids
    st.from_regex(EXTERNAL_ID_PATTERN, fullmatch=True).flatmap(  # a valid id with one character added
        lambda ok: st.tuples(st.integers(0, len(ok)), st.characters()).map(lambda t: ok[: t[0]] + t[1] + ok[t[0] :])
    ),
    st.text(max_size=70),
)


@settings(max_examples=300)
@given(value=ID_LIKE)
def test_the_id_validator_and_the_id_test_agree_and_never_pass_a_space_or_control_character(value: str) -> None:
    try:
        external_id_validator(value)
        valid = True
    except ValidationError:
        valid = False
    assert valid is is_external_id(value)
    if valid:
        assert 1 <= len(value) <= 64
        assert value == value.strip() and all(c.isascii() and c.isprintable() and c != " " for c in value)


@settings(max_examples=200)
@given(value=st.text(max_size=20))
def test_a_feature_name_is_accepted_exactly_when_the_whole_of_it_is_a_name(value: str) -> None:
    whole = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", value) is not None
    try:
        Feature(value)
        accepted = True
    except SchemaError:
        accepted = False
    assert accepted is whole


@pytest.mark.django_db
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=ID_LIKE)
def test_the_clients_api_stores_an_id_exactly_as_sent_or_refuses_it(
    key_client: Callable[..., APIClient], value: str
) -> None:
    response = key_client("analyst", ["score"]).post("/api/v1/clients/", {"client_id": value}, format="json")
    if is_external_id(value):
        assert response.status_code == 201, response.json()
        assert Client.objects.filter(client_id=value).exists()
        Client.objects.filter(client_id=value).delete()
    else:
        assert response.status_code == 400, response.json()
        assert "client_id" in response.json()["fields"]
    stored = Client.objects.values_list("client_id", flat=True)
    assert all(is_external_id(client_id) for client_id in stored)


@pytest.mark.django_db
def test_an_id_in_a_path_is_found_only_as_the_api_writes_it(
    key_client: Callable[..., APIClient], credit_model: object
) -> None:
    """``/api/v1/models/ 1/``, ``+1``, ``0_1``, ``１`` (full width) and ``१`` (Devanagari) all read
    model 1 (``int()`` takes them), and a decision answered under its uppercase, undashed, braced
    or ``urn:uuid:`` id, where its notice and contest (a ``uuid`` path) were a 404: one object
    under many URLs, none of them the one the API gives. Each is a JSON 404 now."""
    api = key_client("admin")
    decision = api.post("/api/v1/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}, format="json").json()
    pk, uid = credit_model.pk, decision["id"]  # type: ignore[attr-defined]
    assert api.get(f"/api/v1/models/{pk}/").status_code == 200
    assert api.get(f"/api/v1/predictions/{uid}/").status_code == 200
    for other in (f"%20{pk}", f"{pk}%20", f"+{pk}", f"0_{pk}", chr(0xFF10 + pk), chr(0x0966 + pk)):
        for path in (f"/api/v1/models/{other}/", f"/api/v1/models/{other}/activate/"):
            response = api.get(path) if "activate" not in path else api.post(path, {}, format="json")
            assert (response.status_code, response.json()["error"]) == (404, "not_found"), path
    for other in (uid.upper(), uid.replace("-", ""), f"{{{uid}}}", f"urn:uuid:{uid}"):
        response = api.get(f"/api/v1/predictions/{other}/")
        assert (response.status_code, response.json()["error"]) == (404, "not_found"), other
