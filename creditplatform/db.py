"""Statements of the decision hot paths, without the ORM's per-call SQL compilation, and
prepared once per database session (``execute_prepared``).

``Model.save(force_insert=True)`` compiles its ``INSERT`` anew on every call (quoting each
column, preparing each value through the compiler): about 0.12 ms of CPU for a decision's
30 columns, a tenth of what a whole ``/score`` request costs in Django. The statement text
only depends on the model, so it is built once per model here; the values still go through
each field's own ``pre_save`` and ``get_db_prep_save`` (``auto_now_add``, JSON, UUIDs,
decimals), exactly what ``save`` would write. No ``pre_save``/``post_save`` signal is sent:
callers use these only for models nothing listens to (``tests/test_db_rows.py`` checks
it stays so).
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model


def _db() -> Any:
    """This thread's default connection itself: ``django.db.connection`` is a proxy that looks
    it up again on every attribute, which a loop over 30 fields pays 30 times."""
    return connections[DEFAULT_DB_ALIAS]


@cache
def _columns(model: type[Model], vendor: str) -> tuple[tuple[Any, str], ...]:
    """Each concrete field of ``model`` with its quoted column, in table order (built once)."""
    quote = _db().ops.quote_name
    return tuple((field, quote(str(field.column))) for field in model._meta.concrete_fields)


def insert_values(obj: Model, links: dict[str, str] | None = None) -> tuple[list[str], list[str], list[Any]]:
    """Columns, placeholders and parameters of ``obj``'s INSERT, as ``Model.save`` would write them.

    ``links`` maps a foreign key to the SQL giving its value (a row inserted earlier in the
    same statement); an auto-incremented primary key is left to the database.
    """
    db = _db()
    links = links or {}
    columns, placeholders, params = [], [], []
    for field, column in _columns(type(obj), db.vendor):
        if field.primary_key and field.db_returning:
            continue
        columns.append(column)
        if field.name in links:
            placeholders.append(links[field.name])
            continue
        placeholders.append("%s")
        params.append(field.get_db_prep_save(field.pre_save(obj, True), db))
    return columns, placeholders, params


@cache
def _insert_statement(model: type[Model], vendor: str) -> str:
    """The INSERT of every concrete column of ``model`` (its key included), built once."""
    columns = _columns(model, vendor)
    table = _db().ops.quote_name(model._meta.db_table)
    values = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {table} ({', '.join(column for _, column in columns)}) VALUES ({values})"


def insert_row(obj: Model) -> None:
    """Insert ``obj`` (a model with a client-side primary key, e.g. a UUID default) in one statement.

    Equivalent to ``obj.save(force_insert=True)`` for such a model: the same values, the same
    ``IntegrityError`` on a constraint, and ``obj`` is marked as stored afterwards. Outside a
    transaction the statement autocommits (one round trip); inside one it is part of it.
    """
    pk = obj._meta.pk
    assert pk is not None and not pk.db_returning, "insert_row needs a primary key set before the insert"
    db = _db()
    sql = _insert_statement(type(obj), db.vendor)
    _, _, params = insert_values(obj)  # every column in table order: the key is not the database's
    # As ``save``: inside a transaction, a failed insert marks it for rollback.
    with transaction.mark_for_rollback_on_error(db.alias), db.cursor() as cursor:
        execute_prepared(cursor, f"insert_{obj._meta.db_table}", sql, params)
    obj._state.adding = False
    obj._state.db = db.alias


# --- Server-side prepared statements ------------------------------------------------------


def _numbered(sql: str) -> tuple[str, int]:
    """``sql`` with its ``%s`` placeholders numbered ``$1``, ``$2``… (``%%`` is a literal ``%``)."""
    parts = sql.split("%%")
    count = 0
    numbered = []
    for part in parts:
        pieces = part.split("%s")
        out = pieces[0]
        for piece in pieces[1:]:
            count += 1
            out += f"${count}" + piece
        numbered.append(out)
    return "%".join(numbered), count


@cache
def _statement(name: str, sql: str) -> tuple[str, str, int]:
    """The session-level name, numbered text and placeholder count of ``sql`` (built once)."""
    numbered, count = _numbered(sql)
    # Another text under the same name (another branch of a query builder) is another statement.
    return f"{name}_{hashlib.sha256(numbered.encode()).hexdigest()[:12]}", numbered, count


def execute_prepared(cursor: Any, name: str, sql: str, params: list[Any]) -> None:
    """Run ``sql`` (``%s`` placeholders) as the server-side prepared statement ``name``.

    On PostgreSQL the statement is parsed, analysed and planned once per database session
    (``PREPARE``) and each call is an ``EXECUTE`` with the values: for the fraud velocity
    query, planning alone took three times as long as running it (0.37 against 0.13 ms).
    The names prepared are kept on the connection with the session they belong to, so a
    reconnection prepares again. Elsewhere, or with ``DB_PREPARED_STATEMENTS`` off (e.g.
    behind a pooler in transaction mode, which does not keep sessions), it is a plain
    ``execute``, with the same result.
    """
    db = _db()
    if db.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    raw = db.connection
    session = getattr(db, "_credit_prepared", None)
    if session is None or session[0] is not raw:  # a new database session: nothing prepared in it
        session = db._credit_prepared = (raw, set())
    prepared: set[str] = session[1]
    key, numbered, count = _statement(name, sql)
    if count != len(params):
        raise ValueError(f"{name}: {count} placeholders for {len(params)} values")
    if key not in prepared:
        with transaction.atomic(db.alias):  # a failed PREPARE leaves the caller's transaction usable
            cursor.execute(f"PREPARE {key} AS {numbered}")
        prepared.add(key)
    cursor.execute(f"EXECUTE {key} ({', '.join(['%s'] * count)})" if count else f"EXECUTE {key}", params)
