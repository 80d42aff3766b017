"""The API's orjson renderer writes what DRF's JSONRenderer writes (docs/performance.md)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.utils.functional import lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from creditplatform.api.renderers import OrjsonRenderer

NO_SERIALIZER: Any = None
STAMP = dt.datetime(2026, 12, 2, 7, 30, 1, 123456, tzinfo=dt.UTC)
PAYLOADS: list[Any] = [
    {"id": str(uuid.uuid4()), "probability_default": 0.1234, "prediction": 1, "reasons": [{"feature": "age"}]},
    {"amount": Decimal("1500.10"), "big": Decimal("12345678901.25"), "zero": Decimal("0")},
    {"at": STAMP, "whole_second": STAMP.replace(microsecond=0), "paris": STAMP.astimezone(ZoneInfo("Europe/Paris"))},
    {"london_winter": STAMP.astimezone(ZoneInfo("Europe/London")), "naive": STAMP.replace(tzinfo=None)},
    {"day": dt.date(2026, 12, 2), "time": dt.time(7, 30, 1, 500), "delta": dt.timedelta(seconds=90.5)},
    {"uuid": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    {"text": 'Dépôt «€» 中文 \u2028 line \u2029 para \t tab \x01 ctl "q" \\ b'},
    {
        "errors": ReturnDict(
            {"montant": [ErrorDetail("A valid number is required.", code="invalid")]}, serializer=NO_SERIALIZER
        )
    },
    ReturnList([{"a": 1}, {"b": [1, 2.5, None, True, False]}], serializer=NO_SERIALIZER),
    {"lazy": lazy(lambda: "lazy text", str)()},
    {"numpy": np.array([1.5, 2.0]), "np_float": np.float64(0.25), "np_int": np.int64(3)},
    {"tuple": (1, 2), "nested": {"deep": {"deeper": [{"x": -0.0}]}}},
    {"huge": 2**70},  # beyond orjson: DRF's rendering
    {1: "int key"},  # a key that is not a string: DRF's rendering
    [],
    {},
    "plain",
    42,
]


@pytest.mark.parametrize("data", PAYLOADS, ids=repr)
def test_the_same_bytes_as_drf(data: Any) -> None:
    assert OrjsonRenderer().render(data) == JSONRenderer().render(data)


@pytest.mark.parametrize("value", [1e16, 1e-7, 123456.789, 2.5e-300, 1 / 3])
def test_floats_are_the_same_numbers(value: float) -> None:
    # orjson writes 1e16 and 1e-7 where json.dumps writes 1e+16 and 1e-07: the same numbers.
    ours = OrjsonRenderer().render({"x": value})
    assert json.loads(ours) == json.loads(JSONRenderer().render({"x": value})) == {"x": value}


def test_indented_and_empty_renderings_are_drfs() -> None:
    data = {"a": [1, {"b": STAMP}]}
    for media_type in ("application/json; indent=4", "application/json; indent=2"):
        assert OrjsonRenderer().render(data, media_type) == JSONRenderer().render(data, media_type)
    assert OrjsonRenderer().render(data, None, {"indent": 4}) == JSONRenderer().render(data, None, {"indent": 4})
    assert OrjsonRenderer().render(None) == b""


def test_a_lone_surrogate_is_written_escaped_not_a_crash() -> None:
    # No UTF-8 carries "\ud800": DRF's renderer raises (a 500); the answer escapes it instead.
    data = {"detail": "Unknown field: \ud800", "other": "Dépôt"}
    with pytest.raises(UnicodeEncodeError):
        JSONRenderer().render(data)
    for media_type in ("application/json", "application/json; indent=4"):
        out = OrjsonRenderer().render(data, media_type)
        assert json.loads(out) == data
        assert b"\\ud800" in out


def test_what_drf_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        OrjsonRenderer().render({"x": object()})


def test_the_api_renders_with_it() -> None:
    first: Any = api_settings.DEFAULT_RENDERER_CLASSES[0]
    assert first is OrjsonRenderer
