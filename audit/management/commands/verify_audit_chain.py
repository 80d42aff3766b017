"""``python manage.py verify_audit_chain``: exit 0 when the chain holds, 1 at its first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.checkpoints import ChainTampered, CheckpointError, anchor_parse, audit_checkpoint_write
from audit.selectors import FROM_FILE, audit_chain_verify


class Command(BaseCommand):
    help = (
        "Check the audit trail's hash chain, and its head against the newest signed checkpoint "
        "(AUDIT_CHECKPOINT_FILE): print the first broken link and exit non-zero if any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            metavar="SEQ:HASH",
            help="Compare the head with this checkpoint instead (e.g. the newest 'audit checkpoint' line of the "
            "log store), not with the file's.",
        )
        parser.add_argument(
            "--checkpoint", action="store_true", help="Once the chain holds, append a checkpoint of its head."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            anchor = anchor_parse(options["anchor"]) if options["anchor"] else FROM_FILE
        except ValueError as exc:
            raise CommandError(f"--anchor: {exc}") from exc
        try:
            report = audit_chain_verify(checkpoint=anchor)
        except CheckpointError as exc:
            raise CommandError(f"audit checkpoints cannot be trusted: {exc}") from exc
        if report.broken is not None:
            raise CommandError(f"audit chain broken at {report.broken} ({report.checked} events read)")
        if report.checkpoint is None:
            self.stdout.write(
                f"audit chain intact: {report.checked} events; no checkpoint yet, so the removal of the newest "
                "events could not be checked"
            )
        else:
            self.stdout.write(f"audit chain intact: {report.checked} events, agreeing with {report.checkpoint}")
        if options["checkpoint"]:
            try:
                checkpoint = audit_checkpoint_write()
            except (ChainTampered, CheckpointError) as exc:
                raise CommandError(f"no checkpoint written: {exc}") from exc
            if checkpoint is not None:
                self.stdout.write(f"checkpoint: event #{checkpoint.seq} {checkpoint.hash}")
