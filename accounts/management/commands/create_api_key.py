"""``python manage.py create_api_key NAME --role ROLE``: the key is the last word printed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import ApiKeyScope
from accounts.roles import Role
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a service account and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", choices=Role.values, default=Role.ANALYST)
        parser.add_argument(
            "--scopes",
            help=f"Comma-separated, among {', '.join(ApiKeyScope.values)}. Default: all the role allows.",
        )
        parser.add_argument("--expires-days", type=int, help="Expire after this many days.")

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()] if options["scopes"] else None
        expires_at = None
        if options["expires_days"] is not None:
            if options["expires_days"] <= 0:
                raise CommandError("--expires-days must be positive")
            expires_at = timezone.now() + timedelta(days=options["expires_days"])
        try:
            issued = api_key_create(name=options["name"], role=options["role"], scopes=scopes, expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        key = issued.api_key
        self.stderr.write(
            f"API key '{key.name}' created: role={key.role} scopes={','.join(key.scopes)} "
            f"expires={key.expires_at or 'never'}. Store it now; it is not kept in clear."
        )
        self.stdout.write(issued.plain_key)
