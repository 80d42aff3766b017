"""Replay stored decisions exactly.

``python manage.py replay_decisions [--since D] [--model-version V] [--sample N]``
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import audit_record
from governance.replay import decisions_replay, decisions_to_replay


class Command(BaseCommand):
    help = (
        "Recompute stored credit decisions from their input snapshots with the exact model file each names, and "
        "compare probability, decision and reasons. Prints the counts and the first mismatches; exits non-zero on "
        "any mismatch or missing model file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="Decisions made on or after this day (YYYY-MM-DD).")
        parser.add_argument(
            "--model-version", help="Only the decisions of this registry version (e.g. credit-d28de0e5af)."
        )
        parser.add_argument("--sample", type=int, help="A random sample of this many decisions.")
        parser.add_argument("--show", type=int, default=10, help="Mismatches printed at most (default 10).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            since = date.fromisoformat(options["since"]) if options["since"] else None
        except ValueError as exc:
            raise CommandError("--since: expected YYYY-MM-DD") from exc
        if options["sample"] is not None and options["sample"] < 1:
            raise CommandError("--sample must be positive.")
        decisions = decisions_to_replay(since=since, model_version=options["model_version"], sample=options["sample"])
        result = decisions_replay(decisions=decisions, keep=max(options["show"], 0))
        for version, counts in sorted(result.per_version.items()):
            self.stdout.write(
                f"{version}: {counts['matched']} matched, {counts['mismatched']} mismatched, "
                f"{counts['missing']} with a missing model file"
            )
        self.stdout.write(
            f"Replayed {result.checked} decision(s): {result.matched} matched, {result.mismatched} mismatched, "
            f"{result.missing_artifact} with a missing model file."
        )
        for mismatch in result.mismatches:
            self.stdout.write(f"  {mismatch.line()}")
        audit_record(
            actor=None,
            action="decisions.replayed",
            details={
                "checked": result.checked,
                "matched": result.matched,
                "mismatched": result.mismatched,
                "missing_artifact": result.missing_artifact,
            },
        )
        if result.checked == 0:
            self.stdout.write("No decision to replay.")
            return
        if not result.ok:
            raise CommandError("Some decisions do not replay identically.")
