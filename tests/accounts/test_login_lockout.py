"""Repeated failed password logins lock that username from that address (django-axes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate, get_user_model
from django.test import Client, RequestFactory

from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-demo-password-42"
OFFICE = "198.51.100.7"
HOME = "203.0.113.20"


def staff(username: str) -> Any:
    user = UserFactory(username=username, roles=["analyst"])
    user.set_password(PASSWORD)
    user.save()
    return user


def login(username: str, password: str, address: str = OFFICE) -> Any:
    return Client(REMOTE_ADDR=address).post("/admin/login/?next=/admin/", {"username": username, "password": password})


def fail(username: str, times: int, address: str = OFFICE) -> list[int]:
    return [login(username, "wrong-password-1", address).status_code for _ in range(times)]


def test_the_fifth_failure_locks_the_account_with_a_clear_message(settings: Any) -> None:
    staff("demo-analyst")
    assert fail("demo-analyst", 4) == [200] * 4  # the form again, with its error
    locked = login("demo-analyst", "wrong-password-1")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed logins" in page
    assert "locked after 5" in page and "15 minutes" in page
    assert locked["Retry-After"] == "900"
    # Even the right password is refused while locked.
    assert login("demo-analyst", PASSWORD).status_code == 429


def test_the_lockout_holds_one_username_from_one_address_only() -> None:
    staff("demo-analyst")
    staff("demo-viewer")
    fail("demo-analyst", 5)
    assert login("demo-analyst", PASSWORD, address=OFFICE).status_code == 429
    assert login("demo-analyst", PASSWORD, address=HOME).status_code == 302
    assert login("demo-viewer", PASSWORD, address=OFFICE).status_code == 302


def test_a_successful_login_forgets_earlier_failures() -> None:
    staff("demo-analyst")
    fail("demo-analyst", 4)
    assert login("demo-analyst", PASSWORD).status_code == 302
    assert fail("demo-analyst", 4) == [200] * 4  # counting starts again
    assert login("demo-analyst", PASSWORD).status_code == 302


def test_the_lockout_ends_after_the_cool_off() -> None:
    staff("demo-analyst")
    fail("demo-analyst", 5)
    # Sixteen minutes pass (the cool-off is 15, counted from the last attempt).
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert login("demo-analyst", PASSWORD).status_code == 302


def test_an_admin_unlocks_an_account_at_once() -> None:
    staff("demo-analyst")
    fail("demo-analyst", 5)
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "demo-analyst"
    admin = Client()
    admin.force_login(UserFactory(username="admin-user", roles=["admin"]))
    listing = admin.get("/admin/axes/accessattempt/").content.decode()
    assert "demo-analyst" in listing and "Locked Out" in listing
    response = admin.post(
        "/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": [attempt.pk]}, follow=True
    )
    assert "1 login lockout record(s) cleared." in response.content.decode()
    assert login("demo-analyst", PASSWORD).status_code == 302


def test_an_unlock_from_the_attempts_own_page_goes_through_the_service_like_the_action(caplog: Any) -> None:
    """The attempt's delete page is the same unlock as the action: who unlocked is recorded
    (``login_lockout_clear``), not a bare row deletion beside the service."""
    staff("demo-analyst")
    fail("demo-analyst", 5)
    attempt = AccessAttempt.objects.get()
    admin_user = UserFactory(username="admin-user", roles=["admin"])
    admin = Client()
    admin.force_login(admin_user)
    with caplog.at_level("INFO", logger="accounts.services"):
        response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    cleared = [r for r in caplog.records if r.getMessage() == "login lockouts cleared"]
    assert [(r.count, r.by_user_id) for r in cleared] == [(1, admin_user.pk)]  # type: ignore[attr-defined]
    assert "demo-analyst" not in caplog.text
    assert login("demo-analyst", PASSWORD).status_code == 302


def test_the_break_glass_account_is_locked_like_any_other(settings: Any) -> None:
    settings.OIDC_ENABLED = True
    settings.BREAK_GLASS_USERNAME = "breakglass"
    get_user_model().objects.create_superuser("breakglass", "bg@example.test", PASSWORD)
    fail("breakglass", 5)
    assert login("breakglass", PASSWORD).status_code == 429


def test_logins_without_a_username_are_not_counted() -> None:
    """The OpenID Connect callback authenticates with a code, not a password."""
    request = RequestFactory().get("/oidc/callback/", REMOTE_ADDR=OFFICE)
    for _ in range(6):
        assert authenticate(request, nonce="n", code_verifier="v") is None
    assert not AccessAttempt.objects.exists()


def test_an_unlock_is_in_the_audit_trail_naming_the_account_not_its_username() -> None:
    """Lifting a lockout lets password guessing go on: who did it, and for which account, is on record."""
    locked = staff("demo-analyst")
    fail("demo-analyst", 5)
    fail("nobody-by-that-name", 2)
    admin_user = UserFactory(username="admin-user", roles=["admin"])
    admin = Client()
    admin.force_login(admin_user)
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    admin.post("/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": attempts}, follow=True)

    event = AuditEvent.objects.get(action="auth.lockouts.cleared")
    assert (event.actor, event.actor_name) == (f"user:{admin_user.pk}", "admin-user")
    assert event.details == {"count": 2, "users": [f"user:{locked.pk}"]}
    assert "demo-analyst" not in str(event.details) and "nobody-by-that-name" not in str(event.details)
