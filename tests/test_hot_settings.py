"""``hot_settings``: the request path's settings, kept as plain attributes, follow every override."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from creditplatform.hot_settings import HotSettings, hot_settings


def test_a_setting_reads_as_django_settings_and_is_then_kept() -> None:
    hot = HotSettings()
    assert "API_MAX_JSON_DEPTH" not in vars(hot)
    assert hot.API_MAX_JSON_DEPTH == settings.API_MAX_JSON_DEPTH
    assert "API_MAX_JSON_DEPTH" in vars(hot)  # the next read is a plain attribute


def test_override_settings_is_seen_and_undone() -> None:
    before = hot_settings.API_MAX_JSON_DEPTH
    with override_settings(API_MAX_JSON_DEPTH=before + 7):
        during = hot_settings.API_MAX_JSON_DEPTH
    after = hot_settings.API_MAX_JSON_DEPTH
    assert (during, after) == (before + 7, before)


def test_the_settings_fixture_is_seen(settings: Any) -> None:
    kept = hot_settings.THROTTLE_LEASE_MAX  # kept before the change
    settings.THROTTLE_LEASE_MAX = kept + 3
    changed = hot_settings.THROTTLE_LEASE_MAX
    assert changed == kept + 3


def test_an_unknown_setting_is_an_attribute_error_and_is_not_kept() -> None:
    with pytest.raises(AttributeError):
        hot_settings.NO_SUCH_SETTING  # noqa: B018
    assert "NO_SUCH_SETTING" not in vars(hot_settings)
