"""The erasure engine: applies the retention map to one client's data.

Called by ``privacy.services.erasure_execute`` inside its transaction; nothing here
commits, checks permissions or writes the audit trail. For every table linked to clients
(``Table.subject``), children before parents:

- rows past their retention period are deleted (when nothing still points at them);
- rows the map deletes are deleted; rows kept "while referenced" are deleted when no kept
  record needs them;
- the rows kept are pseudonymised column by column: emptied, replaced by random tokens
  (no mapping is stored anywhere: the tokens exist only in this function's memory), JSON
  snapshots stripped of identifier keys, links to the person unlinked.

Before that, rows of "generic reference" tables (the admin's log) that name the
person's records are scrubbed, and tables that name the person only inside stored
payloads (``Rows.IN_PAYLOAD``: batch chunks) have the person's rows blanked by their
handler. Stored files of deleted rows or emptied file columns are
removed once the transaction commits.
"""

from __future__ import annotations

import operator
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import reduce
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Case, CharField, Exists, F, Func, JSONField, Max, OuterRef, Q, Value, When
from django.db.models.functions import Cast, Concat

from creditplatform.retention import IDENTIFIER_KEYS, Erasure, Rows
from privacy.retention_map import MappedTable, retention_map, tables_about_clients, tables_with_payloads

TOKEN_PREFIX = "erased-"
REDACTED = "[erased]"


class JSONWithout(Func):
    """A JSON value without the given top-level keys (PostgreSQL jsonb ``-``, SQLite ``json_remove``)."""

    output_field = JSONField()

    def __init__(self, expression: Any, keys: tuple[str, ...]) -> None:
        super().__init__(expression)
        self.keys = keys

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} - %s::text[])", [*params, list(self.keys)]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        paths = ", ".join(["%s"] * len(self.keys))
        return f"json_remove({sql}, {paths})", [*params, *(f'$."{key}"' for key in self.keys)]

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]  # pragma: no cover - other databases
        raise NotImplementedError(f"JSONWithout is not implemented for {connection.vendor}")


@dataclass
class TableOutcome:
    """What erasure did to one table (counts only: the certificate is built from these)."""

    table: str
    about: str
    rows: str
    basis: str
    deleted: int = 0
    kept: int = 0
    blanked: int = 0  # the person's rows blanked inside stored payloads (Rows.IN_PAYLOAD)
    kept_until: date | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "what": self.about,
            "deleted": self.deleted,
            "kept_pseudonymised": self.kept,
            **({"rows_blanked_in_payloads": self.blanked} if self.blanked else {}),
            "kept_until": self.kept_until.isoformat() if self.kept_until else None,
            "why_kept": self.basis if self.kept else "",
            "columns": self.columns if self.kept else {},
        }


@dataclass
class ErasureOutcome:
    started_at: datetime
    finished_at: datetime | None = None
    tables: list[TableOutcome] = field(default_factory=list)
    references_scrubbed: int = 0
    files_deleted: int = 0

    @property
    def deleted(self) -> int:
        return sum(t.deleted for t in self.tables)

    @property
    def kept(self) -> int:
        return sum(t.kept for t in self.tables)


def subject_rows(table: MappedTable, client: Any) -> models.QuerySet[Any]:
    """The rows of ``table`` that belong to ``client`` (the table must have a subject)."""
    path = table.spec.subject
    manager = table.model._base_manager
    if path == "":
        return manager.filter(pk=client.pk)
    return manager.filter(**{str(path): client})


def unreferenced(queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """Only the rows no other row points at (by a foreign key or one-to-one)."""
    model = queryset.model
    for relation in model._meta.related_objects:
        if relation.many_to_many or not relation.field.concrete:
            continue
        related = relation.related_model._base_manager.filter(**{relation.field.name: OuterRef("pk")})
        queryset = queryset.filter(~Exists(related))
    return queryset


def _file_fields(model: type[models.Model]) -> list[models.FileField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.FileField)]


def _forget_files(queryset: models.QuerySet[Any], fields: list[models.FileField], outcome: ErasureOutcome) -> None:
    """Delete the stored files of these rows' file fields once the transaction commits."""
    for file_field in fields:
        names = [n for n in queryset.values_list(file_field.name, flat=True) if n]
        if not names:
            continue
        storage = file_field.storage

        def remove(storage: Any = storage, names: list[str] = names) -> None:
            for name in names:
                storage.delete(name)

        transaction.on_commit(remove)
        outcome.files_deleted += len(names)


def delete_rows(queryset: models.QuerySet[Any], outcome: ErasureOutcome) -> int:
    """Delete these rows (and, after commit, their stored files); returns how many rows went."""
    _forget_files(queryset, _file_fields(queryset.model), outcome)
    deleted, per_model = queryset.delete()
    return per_model.get(queryset.model._meta.label, 0)


def _token() -> str:
    return TOKEN_PREFIX + secrets.token_hex(6)


def _pseudonymise(table: MappedTable, rows: models.QuerySet[Any], now: datetime, outcome: ErasureOutcome) -> None:
    """Apply the map's column rules to the kept rows in one UPDATE, touching only rows it changes.

    One statement, so every row is rewritten once (and the link to the person, which finds
    the rows, can be cut in the same statement: the WHERE is read before the SET).
    """
    model = table.model
    assignments: dict[str, Any] = {}
    needs: list[Q] = []
    for name, column in table.spec.columns.items():
        rule = column.erasure
        if rule is Erasure.KEEP:
            continue
        model_field = model._meta.get_field(name)
        if rule is Erasure.CLEAR:
            if isinstance(model_field, models.FileField):
                _forget_files(rows, [model_field], outcome)
            if model_field.null:
                assignments[name], needs = None, [*needs, Q(**{f"{name}__isnull": False})]
            else:
                assignments[name], needs = Value(""), [*needs, ~Q(**{name: ""})]
        elif rule is Erasure.UNLINK:
            assignments[name], needs = None, [*needs, Q(**{f"{name}__isnull": False})]
        elif rule is Erasure.REDACT:
            assignments[name] = Case(When(**{name: ""}, then=Value("")), default=Value(REDACTED))
            needs += [~Q(**{name: ""}) & ~Q(**{name: REDACTED})]
        elif rule is Erasure.NOW:
            assignments[name] = Value(now)
            needs += [Q(**{f"{name}__isnull": True})]
        elif rule is Erasure.STRIP_IDENTIFIERS:
            has_identifiers = Q(**{f"{name}__has_any_keys": list(IDENTIFIER_KEYS)})
            assignments[name] = Case(When(has_identifiers, then=JSONWithout(F(name), IDENTIFIER_KEYS)), default=F(name))
            needs += [has_identifiers]
        elif rule is Erasure.TOKEN:
            # Unique per row (the row's own key makes it so), random per erasure: nothing maps back.
            assignments[name] = Case(
                When(**{f"{name}__startswith": TOKEN_PREFIX}, then=F(name)),
                default=Concat(Value(_token() + "-"), Cast("pk", CharField()), output_field=CharField()),
            )
            needs += [~Q(**{f"{name}__startswith": TOKEN_PREFIX})]
        elif rule is Erasure.TOKEN_PER_VALUE:
            values = [v for v in rows.values_list(name, flat=True).distinct().order_by() if v]
            values = [v for v in values if not str(v).startswith(TOKEN_PREFIX)]
            if len(values) <= 200:
                # The value -> token pairs exist only in this expression, never in a table.
                if values:
                    branches = [When(**{name: value}, then=Value(_token())) for value in values]
                    assignments[name] = Case(*branches, default=F(name))
                    needs += [Q(**{f"{name}__in": values})]
                continue
            for start in range(0, len(values), 500):  # many distinct values: chunks, one UPDATE each
                chunk = values[start : start + 500]
                branches = [When(**{name: value}, then=Value(_token())) for value in chunk]
                rows.filter(**{f"{name}__in": chunk}).update(**{name: Case(*branches, default=F(name))})
        else:  # pragma: no cover - a new Erasure member without its rule here
            raise NotImplementedError(rule)
    if assignments:
        rows.filter(reduce(operator.or_, needs)).update(**assignments)


def scrub_references(rows: models.QuerySet[Any], now: datetime, outcome: ErasureOutcome) -> int:
    """Rows of "generic reference" tables (the admin's log) that name these rows by content type
    and id lose the identifiers (the map's rules: ``object_repr`` replaced by ``[erased]``).

    Called before the rows are erased or deleted: once a row is gone, nothing leads from it
    to the log entries naming it any more. Returns how many were scrubbed.
    """
    generic_tables = [t for t in retention_map() if t.spec.rows is Rows.GENERIC_REFERENCE and t.spec.generic]
    content_type = ContentType.objects.get_for_model(rows.model, for_concrete_model=False)
    ids = rows.order_by().annotate(_pk_text=Cast("pk", CharField())).values("_pk_text")
    scrubbed = 0
    for generic in generic_tables:
        ct_field, id_field = generic.spec.generic  # type: ignore[misc]
        refs = generic.model._base_manager.filter(**{ct_field: content_type, f"{id_field}__in": ids})
        count = refs.count()
        if count:
            _pseudonymise(generic, refs, now, outcome)
            scrubbed += count
    outcome.references_scrubbed += scrubbed
    return scrubbed


def _scrub_generic_references(client: Any, outcome: ErasureOutcome) -> None:
    """Rows that name the person's records by content type and id (the admin's log) lose the identifiers."""
    for table in tables_about_clients():
        scrub_references(subject_rows(table, client), outcome.started_at, outcome)


def client_erase(*, client: Any, now: datetime) -> ErasureOutcome:
    """Erase one client's data as the retention map says. Call inside a transaction."""
    outcome = ErasureOutcome(started_at=now)
    _scrub_generic_references(client, outcome)
    for table in tables_with_payloads():  # first: the handlers find the person by ids the tables below erase
        spec = table.spec
        blanked = table.payload.erase(client)
        if blanked:
            outcome.tables.append(
                TableOutcome(
                    table=table.label, about=spec.about, rows=spec.rows.value, basis=spec.basis, blanked=blanked
                )
            )
    for table in tables_about_clients():
        spec = table.spec
        rows = subject_rows(table, client)
        result = TableOutcome(table=table.label, about=spec.about, rows=spec.rows.value, basis=spec.basis)
        if spec.rows is Rows.DELETE:
            result.deleted = delete_rows(rows, outcome)
        else:
            days = table.retention_days()
            expired = table.expired(rows, now)
            if expired is not None:
                result.deleted += delete_rows(unreferenced(expired), outcome)
            if spec.rows is Rows.KEEP_WHILE_REFERENCED:
                result.deleted += delete_rows(unreferenced(rows), outcome)
            rows = subject_rows(table, client)
            result.kept = rows.count()
            if result.kept:
                if spec.retention is not None and days is not None:
                    newest = rows.aggregate(newest=Max(spec.retention.date_field))["newest"]
                    if newest is not None:
                        result.kept_until = (newest + timedelta(days=days)).date() if days else None
                _pseudonymise(table, rows, now, outcome)
                result.columns = _column_summary(table)
        if result.deleted or result.kept:
            outcome.tables.append(result)
    return outcome


def _column_summary(table: MappedTable) -> dict[str, list[str]]:
    summary: dict[str, list[str]] = {}
    for name, column in table.spec.columns.items():
        if column.kind.value in ("technical", "link") and column.erasure is Erasure.KEEP:
            continue
        summary.setdefault(column.erasure.value, []).append(name)
    return summary


__all__ = [
    "ErasureOutcome",
    "JSONWithout",
    "client_erase",
    "delete_rows",
    "scrub_references",
    "subject_rows",
    "unreferenced",
]
