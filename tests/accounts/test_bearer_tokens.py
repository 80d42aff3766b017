"""Bearer tokens on the API, minted by (and forged against) the real provider process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from rest_framework.test import APIClient

from accounts.signals import auth_failed
from accounts.tokens import JwksCache, jwks_cache
from tests.accounts.forge import FORGERIES, signed, unknown_kid
from tests.accounts.idp import Provider

pytestmark = [pytest.mark.oidc, pytest.mark.django_db]

CLIENTS = "/api/v1/clients/"


def bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_token_minted_by_the_provider_is_accepted(oidc_settings: Provider) -> None:
    response = bearer(oidc_settings.client_token("scoring-service")).get(CLIENTS)
    assert response.status_code == 200


def test_es256_token_minted_by_the_provider_is_accepted(oidc_settings: Provider) -> None:
    response = bearer(oidc_settings.client_token("scoring-service", alg="ES256")).get(CLIENTS)
    assert response.status_code == 200


def test_a_persons_token_from_the_login_flow_carries_their_role(oidc_settings: Provider) -> None:
    analyst, viewer = bearer(oidc_settings.user_token("analyst")), bearer(oidc_settings.user_token("viewer"))
    assert analyst.post(CLIENTS, {"client_id": "C3"}, format="json").status_code == 201
    assert viewer.post(CLIENTS, {"client_id": "C4"}, format="json").status_code == 403
    assert viewer.get(CLIENTS).status_code == 200


def test_token_roles_come_from_the_groups_claim(oidc_settings: Provider) -> None:
    viewer = bearer(oidc_settings.client_token("reporting-service"))
    assert viewer.get(CLIENTS).status_code == 200
    assert viewer.post(CLIENTS, {"client_id": "C1"}, format="json").status_code == 403


def test_analyst_token_may_write_without_api_key_scopes(oidc_settings: Provider) -> None:
    response = bearer(oidc_settings.client_token("scoring-service")).post(CLIENTS, {"client_id": "C2"}, format="json")
    assert response.status_code == 201


def test_token_without_any_role_is_forbidden(oidc_settings: Provider) -> None:
    response = bearer(oidc_settings.client_token("norole-service")).get(CLIENTS)
    assert response.status_code == 403


def test_token_caller_is_recorded_pseudonymously(oidc_settings: Provider) -> None:
    from monitoring.models import ApiCall

    bearer(oidc_settings.client_token("scoring-service")).get(CLIENTS)
    caller = ApiCall.objects.latest("created_at").caller
    assert caller.startswith("oidc:")
    assert "scoring-service" not in caller


@pytest.fixture
def auth_failures() -> Iterator[list[str]]:
    """Reasons of the ``auth_failed`` signals sent during the test."""
    seen: list[str] = []

    def record(sender: object, request: object, reason: str, **kwargs: object) -> None:
        seen.append(reason)

    auth_failed.connect(record)
    yield seen
    auth_failed.disconnect(record)


@pytest.mark.parametrize("forgery", list(FORGERIES), ids=list(FORGERIES))
def test_forged_token_is_refused_with_401(oidc_settings: Provider, auth_failures: list[str], forgery: str) -> None:
    build, reason = FORGERIES[forgery]
    token = build(oidc_settings)
    response = bearer(token).get(CLIENTS)
    assert response.status_code == 401
    assert auth_failures == [reason]
    assert response.json()["error"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert token not in response.content.decode()


def test_missing_credentials_get_401_with_bearer_challenge(oidc_settings: Provider) -> None:
    response = APIClient().get(CLIENTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="credit-platform"'


def test_api_key_keeps_working_beside_bearer_tokens(
    oidc_settings: Provider, key_client: Callable[..., APIClient]
) -> None:
    assert key_client("viewer", ["read"]).get(CLIENTS).status_code == 200


def test_a_bearer_token_when_no_provider_is_configured_is_a_401_asking_for_an_api_key(
    settings: object, idp: Provider, auth_failures: list[str], api_key_for: Callable[..., str]
) -> None:
    settings.OIDC_API_ENABLED = False  # type: ignore[attr-defined]
    response = bearer(idp.client_token()).get(CLIENTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("ApiKey ")
    assert response.json() == {
        "error": "authentication_failed",
        "detail": "Bearer tokens are not accepted on this deployment (no OIDC provider is configured for the API): "
        "send an API key in the X-API-Key header.",
    }
    assert auth_failures == ["jwt_not_enabled"]
    # Without a token, a missing credential is still called missing.
    assert APIClient().get(CLIENTS).json()["detail"] == "Authentication credentials were not provided."
    # An API key sent beside the token still authenticates; what is open to anyone stays open.
    both = bearer("a.b.c")
    both.credentials(HTTP_AUTHORIZATION="Bearer a.b.c", HTTP_X_API_KEY=api_key_for("viewer", ["read"]))
    assert both.get(CLIENTS).status_code == 200
    assert bearer("a.b.c").get("/api/schema/").status_code == 200


def test_burst_of_unknown_kids_costs_at_most_one_jwks_fetch(oidc_settings: Provider) -> None:
    assert bearer(oidc_settings.client_token()).get(CLIENTS).status_code == 200  # keys now cached
    before = oidc_settings.jwks_requests()
    statuses = {bearer(unknown_kid(oidc_settings, kid=f"random-{i}")).get(CLIENTS).status_code for i in range(30)}
    assert statuses == {401}
    assert oidc_settings.jwks_requests() - before <= 1


def test_unknown_kid_refetches_again_only_after_a_minute(oidc_settings: Provider) -> None:
    clock = [1000.0]
    cache = JwksCache(oidc_settings.settings()["OIDC_OP_JWKS_ENDPOINT"], clock=lambda: clock[0])  # type: ignore[arg-type]
    cache.get_key("unknown-1")
    assert cache.fetch_count == 1
    for second in range(59):
        clock[0] = 1000.0 + second
        assert cache.get_key(f"unknown-{second}") is None
    assert cache.fetch_count == 1
    clock[0] = 1061.0
    cache.get_key("unknown-again")
    assert cache.fetch_count == 2


def test_known_keys_keep_working_while_the_provider_is_unreachable(oidc_settings: Provider, settings: object) -> None:
    token = oidc_settings.client_token()
    assert bearer(token).get(CLIENTS).status_code == 200
    cache = jwks_cache()
    cache.uri = "http://127.0.0.1:9/jwks"  # nothing listens there
    cache._fetched_at = -1e9  # the cached set is stale: a refetch is due, and fails
    cache._last_attempt = None
    assert bearer(token).get(CLIENTS).status_code == 200


def test_token_never_appears_in_logs(oidc_settings: Provider, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = [FORGERIES["expired"][0](oidc_settings), FORGERIES["unknown kid"][0](oidc_settings)]
    for token in tokens:
        bearer(token).get(CLIENTS)
    assert any(record.getMessage() == "authentication failed" for record in caplog.records)
    for token in tokens:
        signature = token.rsplit(".", 1)[1]
        assert signature not in caplog.text
        for record in caplog.records:
            assert signature not in repr(vars(record))


@pytest.mark.parametrize(
    "marker", [{"nonce": "n"}, {"at_hash": "h"}, {"typ": "ID"}], ids=["nonce", "at_hash", "typ ID"]
)
def test_id_token_replayed_as_access_token_is_refused_when_audiences_coincide(
    oidc_settings: Provider, settings: object, auth_failures: list[str], marker: dict[str, str]
) -> None:
    settings.OIDC_API_AUDIENCE = "credit-app"  # type: ignore[attr-defined]  # the default: the client id
    response = bearer(signed(oidc_settings, aud="credit-app", **marker)).get(CLIENTS)
    assert response.status_code == 401
    assert auth_failures == ["jwt_id_token_replayed"]


def test_access_token_for_the_client_id_audience_is_accepted(oidc_settings: Provider, settings: object) -> None:
    settings.OIDC_API_AUDIENCE = "credit-app"  # type: ignore[attr-defined]
    assert bearer(signed(oidc_settings, aud="credit-app")).get(CLIENTS).status_code == 200


# --- RFC 9068 and the limits of what PyJWT checks ----------------------------------------


def test_the_providers_access_tokens_are_rfc_9068_jwts(oidc_settings: Provider) -> None:
    import jwt

    for token in (oidc_settings.client_token(), oidc_settings.user_token("analyst")):
        assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
        assert {"client_id", "jti", "iat", "exp"} <= set(jwt.decode(token, options={"verify_signature": False}))
        assert bearer(token).get(CLIENTS).status_code == 200


def test_a_provider_without_rfc_9068_can_be_accepted_and_the_other_checks_still_hold(
    oidc_settings: Provider, settings: object, auth_failures: list[str]
) -> None:
    settings.OIDC_API_REQUIRE_AT_JWT = False  # type: ignore[attr-defined]
    plain = signed(oidc_settings, headers={"typ": "JWT"}, client_id=None, jti=None)
    assert bearer(plain).get(CLIENTS).status_code == 200
    assert bearer(signed(oidc_settings, headers={"typ": "JWT"}, sub="")).get(CLIENTS).status_code == 401
    assert auth_failures == ["jwt_bad_claim"]


def test_the_longest_accepted_lifetime_is_a_setting(
    oidc_settings: Provider, settings: object, auth_failures: list[str]
) -> None:
    settings.OIDC_API_MAX_TOKEN_LIFETIME_SECONDS = 60  # type: ignore[attr-defined]
    assert bearer(oidc_settings.client_token()).get(CLIENTS).status_code == 401  # the provider gives 300 s
    assert auth_failures == ["jwt_lifetime_too_long"]


def test_a_trusted_extra_audience_is_accepted_with_its_authorized_party(
    oidc_settings: Provider, settings: object
) -> None:
    userinfo = f"{oidc_settings.issuer}/me"
    settings.OIDC_API_EXTRA_AUDIENCES = [userinfo]  # type: ignore[attr-defined]
    both = ["credit-api", userinfo]
    assert bearer(signed(oidc_settings, aud=both, azp="credit-app")).get(CLIENTS).status_code == 200
    assert bearer(signed(oidc_settings, aud=both)).get(CLIENTS).status_code == 401  # no azp
    assert bearer(signed(oidc_settings, aud=[*both, "another-api"], azp="x")).get(CLIENTS).status_code == 401
