"""Staff login through the real provider: authorization code flow with PKCE, role sync, refusals."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.test import Client

from accounts.models import OidcIdentity
from accounts.oidc import CreditOIDCBackend
from scoring.models import Client as PersonClient
from tests.accounts.forge import signed
from tests.accounts.idp import Provider, login_at_provider, silent_redirects
from tests.factories import UserFactory

pytestmark = [pytest.mark.oidc, pytest.mark.django_db]


def oidc_login(client: Client, username: str, browser: requests.Session | None = None) -> Any:
    """Log in as ``username`` at the provider; returns the platform's answer to the callback."""
    start = client.get("/oidc/authenticate/?next=/admin/")
    assert start.status_code == 302
    callback = login_at_provider(browser or requests.Session(), start["Location"], username, "http://testserver/")
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}")


def role_names(username: str) -> set[str]:
    user = OidcIdentity.objects.get(subject=username).user
    return set(user.groups.values_list("name", flat=True))


def test_login_request_uses_pkce_and_a_nonce(oidc_settings: Provider) -> None:
    query = parse_qs(urlsplit(Client().get("/oidc/authenticate/?next=/admin/")["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["nonce"][0]) >= 32
    assert query["response_type"] == ["code"]


def test_analyst_logs_in_through_the_provider_and_lands_in_the_admin(oidc_settings: Provider) -> None:
    client = Client()
    response = oidc_login(client, "analyst")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert role_names("analyst") == {"analyst"}


def test_logged_in_analyst_may_add_a_client_in_the_admin(oidc_settings: Provider) -> None:
    client = Client()
    oidc_login(client, "analyst")
    assert client.get("/admin/scoring/client/add/").status_code == 200


def test_logged_in_viewer_may_not_add_a_client_in_the_admin(oidc_settings: Provider) -> None:
    client = Client()
    oidc_login(client, "viewer")
    assert client.get("/admin/scoring/client/").status_code == 200
    assert client.get("/admin/scoring/client/add/").status_code == 403


def test_identity_is_issuer_and_subject_never_the_email(oidc_settings: Provider) -> None:
    local = UserFactory(username="someone-else", email="admin@example.test", roles=["viewer"])
    oidc_login(Client(), "admin")
    identity = OidcIdentity.objects.get(subject="admin")
    assert identity.issuer == oidc_settings.issuer
    assert identity.user != local
    assert set(local.groups.values_list("name", flat=True)) == {"viewer"}


def test_a_provider_username_never_takes_over_a_local_account(oidc_settings: Provider) -> None:
    local = UserFactory(username="compliance", roles=[])
    oidc_login(Client(), "compliance")
    user = OidcIdentity.objects.get(subject="compliance").user
    assert user.pk != local.pk
    assert not get_user_model().objects.get(pk=local.pk).groups.exists()


def test_groups_removed_at_the_provider_are_removed_at_the_next_login(oidc_settings: Provider) -> None:
    oidc_settings.set_groups("mover", ["analyst", "viewer"])
    oidc_login(Client(), "mover")
    assert role_names("mover") == {"analyst", "viewer"}
    oidc_settings.set_groups("mover", ["viewer"])
    oidc_login(Client(), "mover")
    assert role_names("mover") == {"viewer"}


def test_role_map_turns_provider_groups_into_roles(oidc_settings: Provider, settings: Any) -> None:
    settings.OIDC_ROLE_MAP = {"credit-officers": "analyst"}
    assert oidc_login(Client(), "officer").status_code == 302
    assert role_names("officer") == {"analyst"}


def test_person_without_a_role_gets_the_refusal_page(oidc_settings: Provider) -> None:
    client = Client()
    response = oidc_login(client, "norole")
    assert response.status_code == 403
    assert "has no role" in response.content.decode()
    assert client.get("/admin/").status_code == 302  # not logged in


def test_removed_role_ends_the_session_at_the_next_refresh(oidc_settings: Provider) -> None:
    oidc_settings.set_groups("leaver", ["analyst"])
    client, browser = Client(), requests.Session()
    oidc_login(client, "leaver", browser)
    assert client.get("/admin/").status_code == 200
    oidc_settings.set_groups("leaver", [])
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1  # OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS elapsed
    session.save()
    refresh = client.get("/admin/")
    assert refresh.status_code == 302
    assert "prompt=none" in refresh["Location"]
    callback = silent_redirects(browser, refresh["Location"], "http://testserver/")
    parts = urlsplit(callback)
    refused = client.get(f"{parts.path}?{parts.query}")
    assert refused.status_code == 403
    assert "has no role" in refused.content.decode()
    assert client.get("/admin/").status_code == 302


def test_changed_role_is_synced_silently_at_the_next_refresh(oidc_settings: Provider) -> None:
    oidc_settings.set_groups("mover2", ["analyst"])
    client, browser = Client(), requests.Session()
    oidc_login(client, "mover2", browser)
    oidc_settings.set_groups("mover2", ["viewer"])
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    refresh = client.get("/admin/scoring/client/")
    callback = silent_redirects(browser, refresh["Location"], "http://testserver/")
    parts = urlsplit(callback)
    back = client.get(f"{parts.path}?{parts.query}")
    assert back["Location"] == "/admin/scoring/client/"
    assert role_names("mover2") == {"viewer"}
    assert client.get("/admin/scoring/client/add/").status_code == 403


def _refresh_overdue(client: Client, seconds: float) -> None:
    """The session's last check at the provider is ``seconds`` past due (no GET has renewed it)."""
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - seconds
    session.save()


def test_writes_with_a_session_long_overdue_for_its_check_are_refused(oidc_settings: Provider, settings: Any) -> None:
    """The silent refresh runs on GETs only: a person whose roles were removed at the provider must not go on
    writing (API or admin) with POSTs alone, which never renew the session, until it expires (8 hours)."""
    oidc_settings.set_groups("poster", ["analyst"])
    client = Client()
    oidc_login(client, "poster")
    oidc_settings.set_groups("poster", [])  # removed at the provider
    _refresh_overdue(client, settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS + 1)

    api = client.post(
        "/api/v1/clients/", {"client_id": "C7001", "last_name": "Martin"}, content_type="application/json"
    )
    assert api.status_code == 403
    assert api.json()["error"] == "session_refresh_required"
    assert "load a page" in api.json()["detail"]
    form = "http://testserver/admin/scoring/client/add/"
    admin = client.post(form, {"client_id": "C7002", "last_name": "Martin"}, HTTP_REFERER=form)
    assert admin.status_code == 302
    assert admin["Location"] == form  # back to the form: that GET runs the silent refresh
    elsewhere = client.post(form, {"client_id": "C7002"}, HTTP_REFERER="https://evil.example/")
    assert elsewhere["Location"] == "/admin/"
    assert not PersonClient.objects.filter(client_id__in=["C7001", "C7002"]).exists()
    # An API key or a bearer token sent along is what authenticates: the session is not asked.
    assert (
        client.post("/api/v1/clients/", {}, content_type="application/json", HTTP_X_API_KEY="cpk_x_y").status_code
        == 401
    )


@pytest.mark.parametrize(
    "header",
    [{"HTTP_X_API_KEY": "cpk_x_y"}, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}],
    ids=["X-API-Key", "Authorization: Bearer"],
)
def test_an_ignored_credential_header_does_not_excuse_an_admin_write(
    oidc_settings: Provider, settings: Any, header: dict[str, str]
) -> None:
    """The admin reads neither header: the session authenticates its forms, so an API key or a bearer token
    sent along to an admin page must not skip the check (a role removed at the provider would keep writing)."""
    oidc_settings.set_groups("sneaker", ["analyst"])
    client = Client()
    oidc_login(client, "sneaker")
    oidc_settings.set_groups("sneaker", [])  # removed at the provider
    _refresh_overdue(client, settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS + 1)
    form = "http://testserver/admin/scoring/client/add/"
    answer = client.post(form, {"client_id": "C7004", "last_name": "Martin"}, HTTP_REFERER=form, **header)
    assert answer.status_code == 302
    assert answer["Location"] == form
    assert not PersonClient.objects.filter(client_id="C7004").exists()


def test_writes_within_one_period_past_the_check_are_served(oidc_settings: Provider, settings: Any) -> None:
    """A form opened just before the check fell due is still accepted (one more period of grace)."""
    client = Client()
    oidc_login(client, "analyst")
    _refresh_overdue(client, settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS - 30)
    response = client.post(
        "/api/v1/clients/", {"client_id": "C7003", "last_name": "Martin"}, content_type="application/json"
    )
    assert response.status_code == 201


def test_ended_provider_session_sends_the_person_to_log_in_again(oidc_settings: Provider) -> None:
    client = Client()
    oidc_login(client, "analyst")
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()
    refresh = client.get("/admin/scoring/client/")
    # A browser without the provider's cookies: its session there is gone.
    callback = silent_redirects(requests.Session(), refresh["Location"], "http://testserver/")
    parts = urlsplit(callback)
    back = client.get(f"{parts.path}?{parts.query}")
    assert back.status_code == 302
    assert back["Location"] == "/oidc/authenticate/?next=%2Fadmin%2Fscoring%2Fclient%2F"
    assert client.get("/admin/scoring/client/").status_code == 302


def test_callback_with_an_unknown_state_is_refused_without_error(oidc_settings: Provider) -> None:
    client = Client()
    client.get("/oidc/authenticate/?next=/admin/")
    response = client.get("/oidc/callback/?code=forged&state=forged")
    assert response.status_code == 401
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-client"},
        {"iss": "http://127.0.0.1:1/evil"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"nonce": "another-login"},
    ],
    ids=["wrong audience", "wrong issuer", "expired", "wrong nonce"],
)
def test_id_token_with_bad_claims_is_refused(oidc_settings: Provider, overrides: dict[str, object]) -> None:
    claims = {"aud": "credit-app", "nonce": "this-login", **overrides}
    token = signed(oidc_settings, **claims)
    with pytest.raises(SuspiciousOperation):
        CreditOIDCBackend().verify_token(token, nonce="this-login")


def test_id_token_with_good_claims_is_accepted(oidc_settings: Provider) -> None:
    token = signed(oidc_settings, aud="credit-app", nonce="this-login")
    assert CreditOIDCBackend().verify_token(token, nonce="this-login")["sub"] == "forger"


def test_logging_out_of_the_admin_also_ends_the_provider_session(oidc_settings: Provider) -> None:
    client = Client()
    oidc_login(client, "analyst")
    response = client.post("/admin/logout/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{oidc_settings.issuer}/session/end"
    assert "id_token_hint" in parse_qs(target.query)
    assert client.get("/admin/").status_code == 302
    confirmation = requests.get(response["Location"], timeout=10)  # the provider accepts the request
    assert confirmation.status_code == 200
    assert "logout" in confirmation.text.lower()


def test_password_session_logs_out_as_before(client_as: Any) -> None:
    client = client_as("viewer")
    assert client.post("/admin/logout/").status_code == 200  # Django's "Logged out" page
    assert client.get("/admin/").status_code == 302
