"""First-run set-up used by ``make run``: default models, then the demo users.

Idempotent: models are trained only when no champion exists for their purpose.
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Train or load the default models and create the demo users (idempotent)."

    # (command, purpose) pairs; a command the installed apps do not provide is skipped.
    TRAINERS = [("train_credit_model", "credit"), ("train_fraud_model", "fraud")]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-demo-users", action="store_true")
        parser.add_argument(
            "--admin-url", default="http://127.0.0.1:8000/admin/", help="Where the demo-user message says to log in."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from scoring.choices import ModelStatus
        from scoring.models import ModelVersion

        available = get_commands()
        for command, purpose in self.TRAINERS:
            if command not in available:
                continue
            if ModelVersion.objects.filter(purpose=purpose, status=ModelStatus.CHAMPION).exists():
                self.stdout.write(f"{purpose} model: champion already registered.")
                continue
            self.stdout.write(f"{purpose} model: none registered, training the default one...")
            call_command(command)
        if not options["no_demo_users"]:
            call_command("create_demo_users", admin_url=options["admin_url"])
