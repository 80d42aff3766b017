"""/fraude's input check (``fraude_input_parse``) answers exactly as ``FraudeInputSerializer``.

The view validates with the plain function (no serializer built per request); the serializer
stays for the OpenAPI document. Every payload below, valid or not, must give the same
request or the same errors (fields, messages and their order) both ways.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud.api.serializers import FraudeInputSerializer, fraude_input_parse
from fraud.services import ScreenRequest

BASE: dict[str, Any] = {"transaction_id": "TX1", "montant": 2000, "type": "virement", "client_id": "C1001"}
FULL: dict[str, Any] = {
    **BASE,
    "timestamp": "2025-10-25T09:12:00Z",
    "currency": "eur",
    "country": "fr",
    "channel": "web",
    "beneficiary": "FR76 0000",
    "device_id": "dev-1",
    "merchant_category": "5411",
    "historique_impaye": 2,
}
FIELDS = [*FULL, "devise", "date_transaction"]
SOON = (timezone.now() + dt.timedelta(days=2)).isoformat()
ODD_VALUES: list[Any] = [
    None,
    "",
    "  ",
    " x ",
    0,
    -1,
    2.5,
    True,
    [],
    {},
    "x" * 101,
    "EUR",
    "usd",
    "ZZZ",
    "FR",
    "zz",
    "ßp",
    "ß",
    "ﬅ",
    "dépôt",
    "DEPOT",
    "Virement",
    "paiement",
    "web",
    "nope",
    "5411",
    "54a1",
    "a\x01b",
    "a\x00b",
    "\ud800",
    "C-1:2.3_4",
    "-bad",
    "2000",
    1e20,
    0.001,
    123456789012.5,
    float("inf"),
    101,
    2.0,
    "2025-10-25T09:12:00",
    "2025-10-25T09:12:00+02:00",
    "1999-12-31T23:00:00Z",
    SOON,
    "25/10/2025",
    "2025-10-25",
]


def _value_id(value: Any) -> str:
    """The test id of a value: ``SOON`` by name, since its text changes with the clock (and
    ``pytest -n`` needs every worker to collect the same ids)."""
    return "SOON" if value is SOON else repr(value)


def _parse_both(payload: Any) -> tuple[Any, Any]:
    new, errors = fraude_input_parse(payload)
    serializer = FraudeInputSerializer(data=payload)
    if serializer.is_valid():
        old: ScreenRequest = serializer.to_request()
        assert not errors, (payload, errors)
        assert new is not None
        if not old.timestamp_given:  # "now", read twice
            new = dataclasses.replace(new, facts=dataclasses.replace(new.facts, timestamp=old.facts.timestamp))
        return new, old
    expected = {str(k): [str(m) for m in v] for k, v in serializer.errors.items()}
    got = {str(k): [str(m) for m in v] for k, v in errors.items()}
    assert new is None, payload
    return list(got.items()), list(expected.items())


@pytest.mark.parametrize("payload", [BASE, FULL, {**BASE, "devise": "usd", "date_transaction": "2025-10-25T09:12:00Z"}])
def test_valid_payloads_give_the_same_request(payload: dict[str, Any]) -> None:
    new, old = _parse_both(payload)
    assert isinstance(old, ScreenRequest)
    assert new == old


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", ODD_VALUES, ids=_value_id)
def test_every_field_and_value_answers_as_the_serializer(field: str, value: Any) -> None:
    new, old = _parse_both({**FULL, field: value})
    assert new == old


@pytest.mark.parametrize("field", FIELDS)
def test_a_missing_field_answers_as_the_serializer(field: str) -> None:
    new, old = _parse_both({k: v for k, v in FULL.items() if k != field})
    assert new == old


@pytest.mark.parametrize(
    "payload",
    [
        {**FULL, "devise": "USD"},  # alias and canonical name together
        {**FULL, "date_transaction": "2025-10-25T09:12:00Z", "montant": "1", "surprise": 1},
        {**FULL, "devise": "USD", "date_transaction": "x", "client_id": 5, "extra": None},
        {"devise": "USD", "currency": "EUR"},
        {},
        {"surprise": 1},
        [],
        [BASE],
        "text",
        42,
        None,
    ],
    ids=repr,
)
def test_conflicts_unknown_fields_and_non_objects_answer_as_the_serializer(payload: Any) -> None:
    new, old = _parse_both(payload)
    assert new == old


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*FIELDS, "other"]),
        st.one_of(st.sampled_from(ODD_VALUES), st.text(max_size=8), st.integers(), st.floats()),
        max_size=8,
    )
)
def test_random_payloads_answer_as_the_serializer(changes: dict[str, Any]) -> None:
    new, old = _parse_both({**FULL, **changes})
    assert new == old
