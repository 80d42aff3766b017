"""Role groups exist with the permissions the role map gives them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.roles import Role, user_roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_migrations_create_one_group_per_role() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {r.value for r in Role}


@pytest.mark.parametrize(
    ("role", "perm", "expected"),
    [
        ("viewer", "scoring.view_client", True),
        ("viewer", "scoring.add_client", False),
        ("analyst", "scoring.change_client", True),
        ("analyst", "scoring.change_modelversion", False),
        ("analyst", "accounts.view_apikey", False),
        ("admin", "scoring.change_modelversion", True),
        ("admin", "accounts.add_apikey", True),
        ("compliance", "scoring.view_client", True),
        ("compliance", "scoring.change_client", False),
    ],
)
def test_group_permissions_follow_the_role_map(role: str, perm: str, expected: bool) -> None:
    user = UserFactory(username=f"u-{role}", roles=[role])
    assert user.has_perm(perm) is expected


def test_a_superuser_counts_as_admin() -> None:
    user = UserFactory(username="root", is_superuser=True)
    assert user_roles(user) == frozenset({Role.ADMIN})
