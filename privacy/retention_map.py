"""The retention map of the whole platform: every app's ``privacy.py``, collected and checked.

``retention_map()`` is what erasure, the access export and the retention job follow;
``uncovered_fields()`` is what the coverage test asserts is empty; ``markdown_table()`` is
what docs/privacy.md prints (``python manage.py privacy_map --write``).
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import import_module
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import QuerySet
from django.utils.module_loading import import_string, module_has_submodule

from creditplatform.retention import PayloadRows, Rows, Table


@dataclass(frozen=True)
class MappedTable:
    """A declared table with its model resolved."""

    spec: Table
    model: type[models.Model]

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def payload(self) -> PayloadRows:
        """The object finding the person inside this table's payloads (``Table.payload``)."""
        if self.spec.payload is None:
            raise ValueError(f"{self.label} declares no payload handler")
        handler = import_string(self.spec.payload)
        return handler() if isinstance(handler, type) else handler

    def retention_days(self) -> int | None:
        retention = self.spec.retention
        return None if retention is None else retention.period_days()

    def expired(self, rows: QuerySet[Any], now: datetime) -> QuerySet[Any] | None:
        """Of ``rows``, those past their retention period and not kept (``Retention.past``:
        ``keep_if``, a ``sooner`` period); None when the table has no period."""
        past = self.spec.retention.past(now) if self.spec.retention is not None else None
        return None if past is None else rows.filter(past)


def declared_tables() -> list[Table]:
    """``RETENTION_MAP`` of every installed app that has a ``privacy`` module, in app order."""
    tables: list[Table] = []
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "privacy"):
            module = import_module(f"{config.name}.privacy")
            tables.extend(getattr(module, "RETENTION_MAP", []))
    return tables


@cache
def retention_map() -> tuple[MappedTable, ...]:
    """Every declared table, children before parents (the order erasure and retention work in)."""
    mapped: dict[type[models.Model], MappedTable] = {}
    for spec in declared_tables():
        model = apps.get_model(spec.model)
        if model in mapped:
            raise ValueError(f"{spec.model} is declared twice in the retention map")
        unknown = set(spec.columns) - {f.name for f in model._meta.get_fields() if f.concrete}
        if unknown:
            raise ValueError(f"{spec.model}: the retention map names unknown fields {sorted(unknown)}")
        if (spec.rows is Rows.IN_PAYLOAD) != (spec.payload is not None):
            raise ValueError(f"{spec.model}: Rows.IN_PAYLOAD and a payload handler go together")
        mapped[model] = MappedTable(spec, model)
    graph: dict[type[models.Model], set[type[models.Model]]] = {model: set() for model in mapped}
    for model in mapped:
        for field in model._meta.concrete_fields:
            target = field.related_model if field.is_relation else None
            if isinstance(target, type) and target in mapped and target is not model:
                graph[target].add(model)  # the referencing model goes first
    return tuple(mapped[model] for model in graphlib.TopologicalSorter(graph).static_order())


def tables_about_clients() -> list[MappedTable]:
    return [t for t in retention_map() if t.spec.subject is not None]


def tables_with_payloads() -> list[MappedTable]:
    """Tables whose rows name clients only inside stored payloads (no foreign key leads there)."""
    return [t for t in retention_map() if t.spec.rows is Rows.IN_PAYLOAD]


def pinning_references() -> list[str]:
    """``referencing.field -> referenced`` for every reference that keeps a table's rows past their period.

    The retention job (and the erasure, for rows past their period) deletes a row only once
    nothing points at it: a table pointing at a table with a retention period must expire
    too (its own ``Retention``, children go first), or be unlinked by erasure. Empty when
    every period can actually be applied.
    """
    from creditplatform.retention import Erasure

    mapped = {t.model: t for t in retention_map()}
    pins = []
    for table in retention_map():
        if table.spec.retention is None:
            continue
        for relation in table.model._meta.related_objects:
            if relation.many_to_many or not relation.field.concrete:
                continue
            referencing = mapped.get(relation.related_model)
            if referencing is not None and referencing.spec.retention is not None:
                continue
            column = referencing.spec.columns.get(relation.field.name) if referencing is not None else None
            if column is not None and column.erasure is Erasure.UNLINK:
                continue
            pins.append(f"{relation.related_model._meta.label}.{relation.field.name} -> {table.label}")
    return sorted(pins)


def uncovered_fields(models_: Iterable[type[models.Model]] | None = None) -> list[str]:
    """``app.Model.field`` of every concrete field the map does not cover (empty when complete)."""
    declared = {t.model: set(t.spec.columns) for t in retention_map()}
    missing = []
    for model in models_ if models_ is not None else apps.get_models():
        fields = [f.name for f in model._meta.get_fields() if f.concrete]
        covered = declared.get(model, set())
        missing += [f"{model._meta.label}.{name}" for name in fields if name not in covered]
    return missing


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _columns_cell(table: MappedTable) -> str:
    spec = table.spec
    groups: dict[str, list[str]] = {}
    for name, column in spec.columns.items():
        if spec.rows is Rows.NOT_ABOUT_CLIENTS or column.erasure.value == "kept":
            if column.kind.value in ("technical",):
                continue
            key = f"{column.kind.value} (kept)"
        else:
            key = column.erasure.value
        note = f" ({column.note})" if column.note and key != "technical (kept)" else ""
        groups.setdefault(key, []).append(f"`{name}`{note}")
    if not groups:
        return "no personal data"
    return " · ".join(f"**{key}**: {', '.join(names)}" for key, names in groups.items())


def markdown_table() -> str:
    """The map as Markdown: one row per table, with what erasure and retention do to it."""
    lines = [
        "| table | what it holds | the person's rows on erasure | retention | columns |",
        "|---|---|---|---|---|",
    ]
    for table in sorted(retention_map(), key=lambda t: t.label.lower()):
        spec = table.spec
        retention = "–"
        if spec.retention is not None:
            period = f"`{spec.retention.setting}`" if spec.retention.setting else f"{spec.retention.days} days"
            retention = f"{period} after `{spec.retention.date_field}`"
            if spec.retention.basis not in spec.basis:
                retention += f": {spec.retention.basis}"
            sooner = spec.retention.sooner
            if sooner is not None:
                period = f"`{sooner.setting}`" if sooner.setting else f"{sooner.days} days"
                retention += f"; sooner, {period} after `{sooner.date_field}`: {sooner.basis}"
        rows = spec.rows.value + (f". {spec.basis}" if spec.basis else "")
        cells = [f"`{table.label}`", _cell(spec.about), _cell(rows), _cell(retention), _cell(_columns_cell(table))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
