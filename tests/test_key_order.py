"""``in_key_order``: a stored JSON object read back lists its keys in the order the API documents.

Pure: no database. PostgreSQL's jsonb hands objects back with their keys sorted by length;
the API tests (replays of ``/score`` and ``/fraude``, the lists) check the whole answers.
"""

from __future__ import annotations

from creditplatform.api.serializers import in_key_order
from fraud.decision import THRESHOLD_KEYS, Thresholds
from fraud.rules import RULE_HIT_KEYS, RuleHit
from scoring.ml.model import REASON_KEYS, Reason

KEYS = ("feature", "label", "value", "contribution")


def test_objects_read_back_in_another_order_get_the_documented_one() -> None:
    stored = [{"label": "Age", "value": 30, "feature": "age", "contribution": 0.2}]
    assert [list(item) for item in in_key_order(stored, KEYS)] == [list(KEYS)]
    assert list(in_key_order({"block": 0.9, "review": 0.5}, ("review", "block"))) == ["review", "block"]


def test_keys_outside_the_order_follow_and_missing_ones_are_not_invented() -> None:
    stored = {"reason": "r", "name": "n", "legacy": 1, "action": "flag"}  # an old row: no version, no weight
    assert list(in_key_order(stored, RULE_HIT_KEYS)) == ["name", "action", "reason", "legacy"]
    assert in_key_order(stored, RULE_HIT_KEYS) == stored


def test_what_is_already_in_order_or_not_an_object_is_given_back_as_it_is() -> None:
    built = [{"feature": "age", "label": "Age", "value": 30, "contribution": 0.2}]
    assert in_key_order(built, KEYS) is built
    for value in (None, [], [1, "x"], "text"):
        assert in_key_order(value, KEYS) == value


def test_the_documented_orders_are_the_ones_the_decisions_are_built_in() -> None:
    assert tuple(Reason("age", "Age", 30, 0.123).as_dict()) == REASON_KEYS == KEYS
    assert tuple(RuleHit("n", 1, "flag", 0.5, "r").as_dict()) == RULE_HIT_KEYS
    assert tuple(Thresholds(0.5, 0.9).as_dict()) == THRESHOLD_KEYS == ("review", "block")
