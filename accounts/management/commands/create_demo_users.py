"""Create one demo staff user per role (demo-admin, demo-analyst, ...) and a second admin, and print them."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.roles import Role
from accounts.services import demo_users_ensure


class Command(BaseCommand):
    help = (
        "Create or reset the demo users, one per role plus a second admin (four-eyes promotion), and print their "
        "passwords."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-url", default="http://127.0.0.1:8000/admin/", help="Where the printed message says to log in."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # DEMO_PASSWORD gives stable passwords for a demo; otherwise fresh random ones.
        fixed = settings.DEMO_PASSWORD
        passwords = {role.value: fixed or secrets.token_urlsafe(9) for role in Role}
        passwords["admin-2"] = fixed or secrets.token_urlsafe(9)  # the second admin of four-eyes promotion
        users = demo_users_ensure(password_for=passwords)
        self.stdout.write(f"Demo users (log in at {options['admin_url']}):")
        for username, password in users:
            self.stdout.write(f"  {username:<18} {password}")
