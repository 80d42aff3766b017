"""``python manage.py database_roles``: the application and reporting roles of PostgreSQL.

Run it as the tables' owner (the role that runs ``migrate``), after each migration; it creates
the roles when missing and converges their privileges. ``--sql`` prints the statements instead.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection

from audit.database_roles import RoleError, protections, role_problems, role_statements, roles_apply


class Command(BaseCommand):
    help = (
        "Create or converge the least-privilege PostgreSQL roles: an application role for the web processes and "
        "workers (no DDL, no rewriting of the audit trail or the fraud rule evidence) and a read-only reporting role."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app-role", default="credit_app", help="The application role (default credit_app).")
        parser.add_argument(
            "--reporting-role",
            default="credit_reporting",
            help="The read-only reporting role (default credit_reporting); an empty value sets up none.",
        )
        parser.add_argument(
            "--app-password-env",
            metavar="VARIABLE",
            help="Set the application role's password from this environment variable (never from the command line).",
        )
        parser.add_argument("--sql", action="store_true", help="Print the statements; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        app_role, reporting_role = options["app_role"], options["reporting_role"] or None
        try:
            if options["sql"]:
                statements = role_statements(
                    app_role=app_role, reporting_role=reporting_role, database=connection.settings_dict["NAME"]
                )
                self.stdout.write(";\n".join(statements) + ";")
                return
            password = None
            if options["app_password_env"]:
                password = os.environ.get(options["app_password_env"])
                if not password:
                    raise CommandError(f"--app-password-env: {options['app_password_env']} is not set or empty.")
            roles_apply(app_role=app_role, reporting_role=reporting_role, app_password=password)
            problems = role_problems(role=app_role)
        except RoleError as exc:
            raise CommandError(str(exc)) from exc
        except DatabaseError as exc:
            raise CommandError(f"PostgreSQL refused: {exc}".strip()) from exc
        if problems:
            raise CommandError(f"{app_role} still has more than it needs: {'; '.join(problems)}")
        guarded = ", ".join(p.table for p in protections())
        self.stdout.write(
            f"{app_role}: reads and writes the platform's tables; no DDL; cannot change or delete the evidence "
            f"({guarded})."
        )
        if reporting_role:
            self.stdout.write(f"{reporting_role}: reads the decision records only.")
        if not options["app_password_env"]:
            self.stdout.write(f"Connect the web processes and workers as {app_role} (DATABASE_URL); set its password.")
