"""``python manage.py gdpr_erase CLIENT_ID --reason "…" --operator NAME --approver NAME``.

The operator's path for an erasure decided outside the admin (a written request handled
by the DPO's office, a batch of them): it records the request under the operator's
account, has it approved under the approver's (another compliance officer: the four-eyes
rule holds here too), and runs the erasure at once, all in one transaction: a refused or
failed run leaves no request behind. Prints the certificate's summary.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.services import erasure_record_and_execute
from scoring.models import Client


class Command(BaseCommand):
    help = "Record, approve and execute the erasure of one client (GDPR Art. 17), then print the certificate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id", help="The client's external id, e.g. C1001.")
        parser.add_argument("--reason", required=True, help="How the request came in (no personal data).")
        parser.add_argument("--operator", required=True, help="Username of the compliance officer recording it.")
        parser.add_argument(
            "--approver", required=True, help="Username of the compliance officer who approved it (not the operator)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        try:
            operator = users.objects.get(username=options["operator"], is_active=True)
            approver = users.objects.get(username=options["approver"], is_active=True)
        except users.DoesNotExist as exc:
            raise CommandError("--operator and --approver name active compliance officers.") from exc
        client = Client.objects.filter(client_id=options["client_id"]).first()
        if client is None:
            raise CommandError("No client has this external id (already erased, or never known).")
        try:
            # One transaction: a refused or failed run leaves no request behind.
            result = erasure_record_and_execute(
                client=client, operator=operator, approver=approver, details=options["reason"]
            )
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(" ".join(messages)) from exc
        if not result.done:
            holds = "; ".join(h["detail"] for h in result.request.holds if h["effect"] == "defers")
            self.stdout.write(f"Erasure request #{result.request.pk} approved but deferred by a legal hold: {holds}")
            self.stdout.write("It runs by itself once the hold is lifted (nightly retention run).")
            return
        assert result.certificate is not None
        erasure = result.certificate.document["erasure"]
        self.stdout.write(
            f"Erasure request #{result.request.pk} done: {erasure['rows_deleted']} rows deleted, "
            f"{erasure['rows_kept_pseudonymised']} kept pseudonymised (legal retention), "
            f"in {erasure['duration_seconds']} s. Certificate SHA-256 {result.certificate.sha256}."
        )
