"""Fixtures of the access tests: the real OIDC provider process and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts.tokens import reset_jwks_caches
from tests.accounts.idp import Provider, provider_available, start_provider
from tests.services import require


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """``node idp.mjs <free port>`` for the whole session; stopped at the end."""
    require(provider_available(), "the OIDC test provider (node + `npm ci` in accounts/devidp; `make idp-deps`)")
    provider = start_provider(["http://testserver/oidc/callback/"], tmp_path_factory.mktemp("idp"))
    yield provider
    provider.stop()


@pytest.fixture
def oidc_settings(settings: Any, idp: Provider) -> Iterator[Provider]:
    """The platform configured for the provider (login and API), with empty key caches."""
    for name, value in idp.settings().items():
        setattr(settings, name, value)
    reset_jwks_caches()
    yield idp
    reset_jwks_caches()
