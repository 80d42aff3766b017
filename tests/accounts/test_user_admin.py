"""The admin role manages staff accounts without lending itself the roles four eyes rest on.

An admin who could change their own roles, grant the admin or compliance role, or set an
admin's or a compliance officer's password would approve their own promotions through a
second account, or read any person's data (an access export). ``accounts.services`` holds
the rule; the user admin shows its refusals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import PASSWORD_REFUSED, user_roles_change_check
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password-42"


def _change(api: APIClient, user: User, roles: list[str], **flags: bool) -> Any:
    form = {
        "username": user.username,
        "email": user.email,
        "groups": [Group.objects.get(name=role).pk for role in roles],
        "date_joined_0": "2026-01-01",  # editable for a superuser only
        "date_joined_1": "00:00:00",
    }
    form.update({flag: "on" for flag in ("is_active", "is_staff") if flags.get(flag, True)})
    return api.post(f"/admin/auth/user/{user.pk}/change/", form, format="multipart")


def _roles(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


@pytest.fixture
def admin_user() -> User:
    return UserFactory(username="first-admin", roles=[Role.ADMIN])


@pytest.fixture
def admin(admin_user: User) -> APIClient:
    api = APIClient()
    api.force_login(admin_user)
    return api


def test_an_admin_cannot_change_their_own_roles(admin: APIClient, admin_user: User) -> None:
    page = admin.get(f"/admin/auth/user/{admin_user.pk}/change/")
    assert page.status_code == 200
    assert 'name="groups"' not in page.content.decode()  # shown, not editable
    _change(admin, admin_user, [Role.ADMIN, Role.COMPLIANCE])
    assert _roles(admin_user) == {Role.ADMIN}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([Role.ANALYST], [Role.ADMIN]),  # a second admin of one's making
        ([Role.VIEWER], [Role.COMPLIANCE]),  # someone reading any person's data
        ([Role.ADMIN], [Role.VIEWER]),  # the other admin of a four-eyes pair removed
        ([Role.COMPLIANCE], []),
    ],
)
def test_an_admin_neither_grants_nor_removes_the_admin_and_compliance_roles(
    admin: APIClient, before: list[str], after: list[str]
) -> None:
    target = UserFactory(username="colleague", roles=before)
    response = _change(admin, target, after)
    assert response.status_code == 200  # the form again, with the refusal
    assert "Only a superuser" in response.content.decode()
    assert _roles(target) == set(before)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE])
@pytest.mark.parametrize("flag", ["is_active", "is_staff"])
def test_an_admin_does_not_switch_off_an_admin_or_a_compliance_officer(admin: APIClient, role: str, flag: str) -> None:
    """Deactivating the other admin (or taking their staff status) removes them from four eyes as surely as
    taking their role: the same rule refuses it."""
    target = UserFactory(username=f"colleague-{role}", roles=[role], is_staff=True)
    response = _change(admin, target, [role], **{flag: False})
    assert response.status_code == 200  # the form again, with the refusal
    assert "Only a superuser" in response.content.decode()
    target.refresh_from_db()
    assert target.is_active and target.is_staff


def test_an_admin_switches_an_analyst_off() -> None:
    admin = APIClient()
    admin.force_login(UserFactory(username="an-admin", roles=[Role.ADMIN]))
    target = UserFactory(username="leaving-analyst", roles=[Role.ANALYST], is_staff=True)
    assert _change(admin, target, [Role.ANALYST], is_active=False).status_code == 302
    target.refresh_from_db()
    assert not target.is_active


def test_an_admin_gives_and_changes_the_other_roles(admin: APIClient) -> None:
    target = UserFactory(username="newcomer", roles=[Role.VIEWER])
    assert _change(admin, target, [Role.ANALYST]).status_code == 302
    assert _roles(target) == {Role.ANALYST}


def test_a_superuser_grants_any_role() -> None:
    root = User.objects.create_superuser("root", "root@example.test", PASSWORD)
    api = APIClient()
    api.force_login(root)
    target = UserFactory(username="second-admin", roles=[Role.ANALYST])
    assert _change(api, target, [Role.ADMIN]).status_code == 302
    assert _roles(target) == {Role.ADMIN}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE])
def test_an_admin_cannot_set_the_password_of_an_admin_or_a_compliance_officer(admin: APIClient, role: str) -> None:
    target = UserFactory(username=f"other-{role}", roles=[role])
    target.set_password(PASSWORD)
    target.save()
    form = {"password1": "taken-over-9876", "password2": "taken-over-9876", "usable_password": "true"}
    response = admin.post(f"/admin/auth/user/{target.pk}/password/", form, format="multipart", follow=True)
    assert PASSWORD_REFUSED in response.content.decode()
    target.refresh_from_db()
    assert target.check_password(PASSWORD) and not target.check_password("taken-over-9876")


def test_an_admin_sets_an_analysts_password_and_the_trail_says_so(admin: APIClient, admin_user: User) -> None:
    target = UserFactory(username="analyst-to-reset", roles=[Role.ANALYST])
    form = {"password1": "a-new-pass-8765", "password2": "a-new-pass-8765", "usable_password": "true"}
    assert admin.post(f"/admin/auth/user/{target.pk}/password/", form, format="multipart").status_code == 302
    target.refresh_from_db()
    assert target.check_password("a-new-pass-8765")
    event = AuditEvent.objects.filter(action="user.password.set").latest("pk")
    assert event.actor == f"user:{admin_user.pk}" and event.details == {"user": "analyst-to-reset"}
    assert "a-new-pass" not in str(event.details)


def test_the_rule_holds_outside_the_admin(user_with_role: Callable[[str], Any]) -> None:
    actor, target = user_with_role(Role.ADMIN), UserFactory(username="x", roles=[Role.ANALYST])
    user_roles_change_check(actor=actor, target=target, before={"analyst"}, after={"viewer"})  # allowed
    user_roles_change_check(actor=None, target=target, before={"analyst"}, after={"admin"})  # the platform
    with pytest.raises(Exception, match="Only a superuser"):
        user_roles_change_check(actor=actor, target=target, before={"analyst"}, after={"admin"})
