"""``python manage.py verify_audit_chain``: exit 0 when the chain holds, 1 at its first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; print the first broken link and exit non-zero if any."

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if report.broken is not None:
            raise CommandError(f"audit chain broken at {report.broken} ({report.checked} events read)")
        self.stdout.write(f"audit chain intact: {report.checked} events")
