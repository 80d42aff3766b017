"""Password login: everyone while OIDC is off (the demo), only the break-glass superuser once on."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-demo-password-42"


@pytest.fixture
def oidc_on(settings: Any) -> Any:
    settings.OIDC_ENABLED = True
    settings.BREAK_GLASS_USERNAME = "breakglass"
    return settings


def password_login(username: str) -> tuple[Client, int]:
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": PASSWORD})
    return client, response.status_code


def staff(username: str, **extra: Any) -> Any:
    user = UserFactory(username=username, roles=["analyst"], **extra)
    user.set_password(PASSWORD)
    user.save()
    return user


def test_demo_user_logs_in_with_a_password_when_oidc_is_off() -> None:
    staff("demo-analyst")
    client, status = password_login("demo-analyst")
    assert status == 302
    assert client.get("/admin/").status_code == 200


def test_staff_password_is_refused_when_oidc_is_on(oidc_on: Any) -> None:
    staff("demo-analyst")
    client, status = password_login("demo-analyst")
    assert status == 200  # the form again, with its error
    assert client.get("/admin/").status_code == 302


def test_break_glass_superuser_logs_in_with_a_password_when_oidc_is_on(oidc_on: Any) -> None:
    get_user_model().objects.create_superuser("breakglass", "bg@example.test", PASSWORD)
    client, status = password_login("breakglass")
    assert status == 302
    assert client.get("/admin/accounts/apikey/").status_code == 200


def test_break_glass_name_on_a_non_superuser_is_refused(oidc_on: Any) -> None:
    staff("breakglass")
    _, status = password_login("breakglass")
    assert status == 200


def test_single_sign_on_is_offered_on_the_login_page_only_when_configured(settings: Any) -> None:
    assert b"sso-login-button" not in Client().get("/admin/login/").content
    settings.OIDC_ENABLED = True
    page = Client().get("/admin/login/?next=/admin/").content.decode()
    assert "sso-login-button" in page
    assert "/oidc/authenticate/?next=/admin/" in page


def test_oidc_endpoints_do_not_exist_when_oidc_is_off() -> None:
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=x&state=y").status_code == 404


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash computed (the slow step whose absence a timing attack measures)."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    computed: list[str] = []
    encode = PBKDF2PasswordHasher.encode

    def counting(self: PBKDF2PasswordHasher, password: str, salt: str, iterations: int | None = None) -> str:
        computed.append(salt)
        return encode(self, password, salt, iterations)

    monkeypatch.setattr(PBKDF2PasswordHasher, "encode", counting)
    return computed


@pytest.mark.parametrize("username", ["breakglass", "demo-analyst", "nobody-by-this-name"])
def test_every_refused_password_login_costs_one_password_hash(oidc_on: Any, hashes: list[str], username: str) -> None:
    """The break-glass name, another account's and an unknown one all run the hasher once,
    so the answer's timing does not tell which name is the break-glass account."""
    get_user_model().objects.create_superuser("breakglass", "bg@example.test", PASSWORD)
    staff("demo-analyst")
    hashes.clear()  # creating the accounts hashed their passwords
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": "wrong-password-1"})
    assert response.status_code == 200  # refused: the form again
    assert len(hashes) == 1
