"""``python manage.py privacy_map [--write]``: the retention map as Markdown (docs/privacy.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.retention_map import markdown_table, uncovered_fields

DOC = Path(settings.BASE_DIR) / "docs" / "privacy.md"
START, END = "<!-- retention-map:start -->", "<!-- retention-map:end -->"


def replace_block(text: str, table: str) -> str:
    """``text`` with the generated table between the markers."""
    head, sep, rest = text.partition(START)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"docs/privacy.md lacks the {START} … {END} markers")
    return f"{head}{START}\n{table}{END}{tail}"


class Command(BaseCommand):
    help = "Print the retention map as a Markdown table, or --write it into docs/privacy.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--write", action="store_true", help="Update docs/privacy.md between its markers.")

    def handle(self, *args: Any, **options: Any) -> None:
        missing = uncovered_fields()
        if missing:
            raise CommandError(f"the retention map does not cover: {', '.join(missing)}")
        table = markdown_table()
        if not options["write"]:
            self.stdout.write(table)
            return
        DOC.write_text(replace_block(DOC.read_text(), table))
        self.stdout.write(f"Updated {DOC.relative_to(settings.BASE_DIR)}")
