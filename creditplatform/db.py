"""Single-row writes on the decision hot paths, without the ORM's per-call SQL compilation.

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

from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Model


def insert_values(obj: Model, links: dict[str, str] | None = None) -> tuple[list[str], list[str], list[Any]]:
    """Columns, placeholders and parameters of ``obj``'s INSERT, as ``Model.save`` would write them.

    ``links`` maps a foreign key to the SQL giving its value (a row inserted earlier in the
    same statement); an auto-incremented primary key is left to the database.
    """
    links = links or {}
    columns, placeholders, params = [], [], []
    for field in obj._meta.concrete_fields:
        if field.primary_key and field.db_returning:
            continue
        columns.append(connection.ops.quote_name(str(field.column)))
        if field.name in links:
            placeholders.append(links[field.name])
            continue
        placeholders.append("%s")
        params.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    return columns, placeholders, params


@cache
def _insert_statement(model: type[Model], vendor: str) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of every concrete column of ``model`` (its key included), and those fields."""
    quote = connection.ops.quote_name
    fields = tuple(model._meta.concrete_fields)
    columns = ", ".join(quote(str(field.column)) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values})", fields


def insert_row(obj: Model) -> None:
    """Insert ``obj`` (a model with a client-side primary key, e.g. a UUID default) in one statement.

    Equivalent to ``obj.save(force_insert=True)`` for such a model: the same values, the same
    ``IntegrityError`` on a constraint, and ``obj`` is marked as stored afterwards. Outside a
    transaction the statement autocommits (one round trip); inside one it is part of it.
    """
    pk = obj._meta.pk
    assert pk is not None and not pk.db_returning, "insert_row needs a primary key set before the insert"
    sql, fields = _insert_statement(type(obj), connection.vendor)
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    # As ``save``: inside a transaction, a failed insert marks it for rollback.
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    obj._state.adding = False
    obj._state.db = connection.alias
