"""Create one demo staff user per role (demo-admin, demo-analyst, ...) and print them."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand

from accounts.roles import Role
from accounts.services import demo_users_ensure


class Command(BaseCommand):
    help = "Create or reset the demo users, one per role, and print their passwords."

    def handle(self, *args: Any, **options: Any) -> None:
        # DEMO_PASSWORD gives stable passwords for a demo; otherwise fresh random ones.
        fixed = os.environ.get("DEMO_PASSWORD")
        passwords = {role.value: fixed or secrets.token_urlsafe(9) for role in Role}
        users = demo_users_ensure(password_for=passwords)
        self.stdout.write("Demo users (log in at http://127.0.0.1:8000/admin/):")
        for username, password in users:
            self.stdout.write(f"  {username:<18} {password}")
