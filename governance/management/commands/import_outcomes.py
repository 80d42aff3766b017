"""Import observed outcomes from a CSV file: ``python manage.py import_outcomes FILE``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.choices import OutcomeSource
from governance.services import (
    OUTCOME_FIELDS,
    OutcomeFileError,
    OutcomeImportError,
    outcome_rows_from_csv,
    outcomes_import,
)

SHOWN_ERRORS = 50


class Command(BaseCommand):
    help = (
        "Import observed outcomes from a CSV file (UTF-8, header line; columns: "
        + ", ".join(OUTCOME_FIELDS)
        + "). Every row is checked first; any bad row (reported with its line) and nothing is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file of outcomes.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from exc
        try:
            rows = outcome_rows_from_csv(data)
            result = outcomes_import(
                rows=rows, source=OutcomeSource.COMMAND, caller=f"command:{getpass.getuser()}"[:100]
            )
        except OutcomeFileError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except OutcomeImportError as exc:
            lines = exc.lines(first_row=2, label="line")
            for line in lines[:SHOWN_ERRORS]:
                self.stderr.write(line)
            if len(lines) > SHOWN_ERRORS:
                self.stderr.write(f"... and {len(lines) - SHOWN_ERRORS} more")
            raise CommandError(f"{path}: {exc}") from exc
        defaults = sum(o.defaulted for o in result.outcomes)
        self.stdout.write(f"Imported {result.count} outcome(s) ({defaults} default(s)); import {result.import_id}.")
