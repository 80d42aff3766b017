"""Every admin page is on the project's base: unfold's theme and guardian's object permissions
(the raw permission pages for the break-glass superuser only)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from creditplatform.admin_mixins import PlatformModelAdmin
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def test_every_registered_admin_inherits_the_platform_base() -> None:
    strays = [type(m).__name__ for m in admin.site._registry.values() if not isinstance(m, PlatformModelAdmin)]
    assert not strays, f"inherit creditplatform.admin_mixins.PlatformModelAdmin: {strays}"


def test_only_a_superuser_opens_an_object_s_permissions(client_as: Callable[[str | None], APIClient]) -> None:
    person = ClientFactory()
    url = f"/admin/scoring/client/{person.pk}/permissions/"
    assert client_as("admin").get(url).status_code == 403
    superuser = Client()
    superuser.force_login(get_user_model().objects.create_superuser("breakglass", "bg@example.test", None))
    page = superuser.get(url)
    assert page.status_code == 200
    assert b"object-permissions" in superuser.get(f"/admin/scoring/client/{person.pk}/change/").content
    assert b"object-permissions" not in client_as("admin").get(f"/admin/scoring/client/{person.pk}/change/").content
