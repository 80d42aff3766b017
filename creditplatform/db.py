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

On PostgreSQL a row travels as **one JSON document** (``row_document``), which the statement
unpacks with ``jsonb_populate_record``: psycopg2 adapts one parameter instead of thirty (it
formats and discards an ``AttributeError`` for each), and Django's per-vendor adaptation
(``Jsonb`` wrappers, date and decimal adapters) is skipped. The values are still each
field's ``pre_save`` then ``get_prep_value`` (defaults, ``auto_now_add``, ``to_python``
checks), written by orjson; PostgreSQL reads each from its JSON text with the column's own
input function, so what lands is what ``save`` writes (``tests/test_db_rows.py`` compares
them column by column). Where those two calls would give the attribute back as it is (a
``str`` for a text column, an ``int`` for an integer, an aware ``datetime``…; see
``_AS_IS``) the attribute is read directly (``prepared_value``): about 4,000 instructions a
field, 136,000 for a decision's row. A field type outside ``_DOCUMENT_FIELDS``, a JSON field with its
own encoder, a float that JSON cannot carry (NaN, infinity) or a value orjson does not
write as ``json.dumps`` would (a dict with non-string keys) takes the column-by-column path
instead. Counted with callgrind (``bench/instructions.py``): a decision's INSERT went
from 700,000 to 410,000 instructions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

import orjson
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models import Model

from creditplatform.hot_settings import hot_settings

_UNSET: Any = object()  # an attribute not set on the instance


def default_connection() -> Any:
    """This thread's default connection itself: ``django.db.connection`` is a proxy that looks
    it up again on every attribute, which a loop over 30 fields pays 30 times."""
    return connections[DEFAULT_DB_ALIAS]


@cache
def _columns(model: type[Model], vendor: str) -> tuple[tuple[Any, str], ...]:
    """Each concrete field of ``model`` with its quoted column, in table order (built once)."""
    quote = default_connection().ops.quote_name
    return tuple((field, quote(str(field.column))) for field in model._meta.concrete_fields)


def insert_values(
    obj: Model, links: dict[str, str] | None = None, db: Any = None
) -> tuple[list[str], list[str], list[Any]]:
    """Columns, placeholders and parameters of ``obj``'s INSERT, as ``Model.save`` would write them.

    ``links`` maps a foreign key to the SQL giving its value (a row inserted earlier in the
    same statement); an auto-incremented primary key is left to the database. ``db``: the
    default connection, when the caller holds it already (looking it up costs about 10,000
    instructions).
    """
    if db is None:
        db = default_connection()
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


# Field types whose ``get_prep_value`` gives what orjson writes and the column's input
# function reads back unchanged (subclasses included: positive integers, one-to-one keys).
_DOCUMENT_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.DecimalField,
    models.BooleanField,
    models.UUIDField,
    models.DateTimeField,
    models.JSONField,
    models.ForeignKey,
)


class _DocumentField(NamedTuple):
    """How one stored field of a model goes into its row's JSON document."""

    field: Any
    column: str  # quoted
    select: str  # the column's value in the document: ``r.<column>``
    key: str  # in the document: the column's name
    is_float: bool
    attname: str
    plain_pre_save: bool  # ``pre_save`` only reads the attribute (no ``auto_now``, no file to save)
    as_is: frozenset[type]  # values ``get_prep_value`` gives back unchanged, by exact type (None always)
    accept: Callable[[Any], bool] | None  # the same, for what a type alone does not settle


def _aware(value: Any) -> bool:
    return type(value) is dt.datetime and value.utcoffset() is not None


def _finite_decimal(value: Any) -> bool:
    return type(value) is Decimal and value.is_finite()


# What each field type's ``get_prep_value`` gives back unchanged (``Field.get_prep_value`` only
# resolves lazy translations; then ``to_python``): an ``int`` for an integer (not a ``bool``:
# ``int(True)`` is 1), an aware ``datetime`` (a naive one is made aware, with a warning), a
# finite ``Decimal`` (``Decimal(d)`` is ``d``). Used only where the field's class keeps the
# base's ``get_prep_value`` and ``to_python``: a subclass with its own goes through them.
_AS_IS: tuple[tuple[type[models.Field], frozenset[type], Callable[[Any], bool] | None], ...] = (
    (models.CharField, frozenset({str}), None),
    (models.TextField, frozenset({str}), None),
    (models.IntegerField, frozenset({int}), None),
    (models.FloatField, frozenset({float}), None),
    (models.BooleanField, frozenset({bool}), None),
    (models.UUIDField, frozenset({uuid.UUID}), None),
    (models.DateTimeField, frozenset(), _aware),
    (models.DecimalField, frozenset(), _finite_decimal),
    (models.JSONField, frozenset({dict, list, str, int, float, bool}), None),
)


def _unchanged(field: Any) -> tuple[frozenset[type], Callable[[Any], bool] | None]:
    """The values ``field.get_prep_value`` is known to give back as they are (see ``_AS_IS``)."""
    if isinstance(field, models.ForeignKey):
        return _unchanged(field.target_field)  # ``get_prep_value`` is the target's
    kind = type(field)
    for base, as_is, accept in _AS_IS:
        if isinstance(field, base):
            same = kind.get_prep_value is base.get_prep_value and kind.to_python is base.to_python
            return (as_is, accept) if same else (frozenset(), None)
    return frozenset(), None


def _plain_pre_save(field: Any) -> bool:
    """True when ``field.pre_save(obj, add=True)`` is ``getattr(obj, field.attname)``."""
    kind = type(field)
    if kind.pre_save is models.Field.pre_save:
        return True
    if kind.pre_save is models.DateTimeField.pre_save:  # only reads it without auto_now(_add)
        return not field.auto_now and not field.auto_now_add
    return False


@cache
def _document_fields(model: type[Model], vendor: str) -> tuple[_DocumentField, ...] | None:
    """How each stored field goes into the document; None when a row of ``model`` cannot travel
    as one JSON document (see the module's docstring)."""
    if vendor != "postgresql":
        return None
    out = []
    for field, column in _columns(model, vendor):
        if field.primary_key and field.db_returning:
            continue
        if not isinstance(field, _DOCUMENT_FIELDS):  # e.g. a date, a duration, bytes: column by column
            return None
        if isinstance(field, models.JSONField) and field.encoder is not None:
            return None
        as_is, accept = _unchanged(field)
        out.append(
            _DocumentField(
                field,
                column,
                f"r.{column}",
                str(field.column),
                isinstance(field, models.FloatField),
                field.attname,
                _plain_pre_save(field),
                as_is,
                accept,
            )
        )
    return tuple(out)


def prepared_value(obj: Model, entry: _DocumentField) -> Any:
    """``field.get_prep_value(field.pre_save(obj, True))``, without the calls where they would
    give the attribute back unchanged (about 4,000 instructions a field)."""
    if entry.plain_pre_save:
        value = obj.__dict__.get(entry.attname, _UNSET)
        if value is _UNSET:  # deferred: the descriptor loads it
            value = getattr(obj, entry.attname)
    else:
        value = entry.field.pre_save(obj, True)
    if value is None or type(value) in entry.as_is or (entry.accept is not None and entry.accept(value)):
        return value
    return entry.field.get_prep_value(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: the numeric column reads it as written
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def row_document(
    obj: Model, links: dict[str, str] | None = None, db: Any = None
) -> tuple[list[str], list[str], str] | None:
    """``obj``'s row as one JSON document: (columns, select expressions over ``r``, document).

    For ``INSERT INTO t (columns) SELECT expressions FROM jsonb_populate_record(NULL::t, %s::jsonb) r``;
    ``links`` and ``db`` as for ``insert_values``. None when the row must take the
    column-by-column path.
    """
    fields = _document_fields(type(obj), (db if db is not None else default_connection()).vendor)
    if fields is None:
        return None
    links = links or {}
    columns, selected, document = [], [], {}
    attributes = obj.__dict__
    for entry in fields:
        columns.append(entry.column)
        if links and entry.field.name in links:
            selected.append(links[entry.field.name])
            continue
        # ``prepared_value``, its commonest case inline: an attribute set, of a type kept as it is.
        value = attributes.get(entry.attname, _UNSET) if entry.plain_pre_save else _UNSET
        if value is _UNSET or not (value is None or type(value) in entry.as_is):
            value = prepared_value(obj, entry)
        if entry.is_float and value is not None and not math.isfinite(value):
            return None  # JSON has no NaN or infinity: orjson would write null
        selected.append(entry.select)
        document[entry.key] = value
    try:
        text = orjson.dumps(document, default=_json_default)
    except orjson.JSONEncodeError:  # e.g. a JSON value with non-string keys, which json.dumps rewrites
        return None
    return columns, selected, text.decode()


def document_insert(table: str, columns: list[str], selected: list[str]) -> str:
    """The INSERT of one row from its JSON document (the ``%s`` placeholder)."""
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(selected)} "
        f"FROM jsonb_populate_record(NULL::{table}, %s::jsonb) AS r"
    )


@cache
def _insert_statement(model: type[Model], vendor: str) -> str:
    """The INSERT of every concrete column of ``model`` (its key included), built once."""
    columns = _columns(model, vendor)
    table = default_connection().ops.quote_name(model._meta.db_table)
    values = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {table} ({', '.join(column for _, column in columns)}) VALUES ({values})"


def insert_row(obj: Model) -> None:
    """Insert ``obj`` (a model with a client-side primary key, e.g. a UUID default) in one statement.

    Equivalent to ``obj.save(force_insert=True)`` for such a model: the same values, the same
    ``IntegrityError`` on a constraint, and ``obj`` is marked as stored afterwards. Outside a
    transaction the statement autocommits (one round trip); inside one it is part of it.
    """
    _require_own_key(obj)
    db = default_connection()
    document = row_document(obj, db=db)
    if document is not None:
        columns, selected, text = document
        sql, params = document_insert(db.ops.quote_name(obj._meta.db_table), columns, selected), [text]
    else:
        sql = _insert_statement(type(obj), db.vendor)
        _, _, params = insert_values(obj, db=db)  # every column in table order: the key is not the database's
    _run_insert(obj, db, f"insert_{obj._meta.db_table}", sql, params, returning=False)


def insert_row_linked(obj: Model, field_name: str, lookup: str, value: Any) -> Any | None:
    """Insert ``obj`` with its foreign key ``field_name`` pointing at the row whose ``lookup``
    field is ``value``, found by the same statement: no look-up of its own.

    ``INSERT … SELECT … FROM <target> WHERE <lookup> = value RETURNING <key>``: returns the
    linked row's key, or None when no row has that value, and then nothing is stored. As
    ``insert_row`` otherwise (the same values, the same ``IntegrityError``; ``obj`` is marked
    as stored), except that ``obj``'s own value for ``field_name`` is not used: the caller
    sets the relation from the key returned.
    """
    _require_own_key(obj)
    db = default_connection()
    quote = db.ops.quote_name
    field = obj._meta.get_field(field_name)
    assert isinstance(field, models.ForeignKey), f"{field_name} is not a foreign key"
    target = field.related_model._meta
    found_by = target.get_field(lookup)
    assert isinstance(found_by, models.Field), f"{lookup} is not a column of {target.label}"
    table = quote(obj._meta.db_table)
    links = {field_name: f"l.{quote(str(field.target_field.column))}"}
    document = row_document(obj, links, db)
    if document is not None:
        columns, selected, text = document
        source, params = f"jsonb_populate_record(NULL::{table}, %s::jsonb) AS r, ", [text]
    else:
        columns, selected, params = insert_values(obj, links, db)
        source = ""
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(selected)} "
        f"FROM {source}{quote(target.db_table)} AS l WHERE l.{quote(str(found_by.column))} = %s "
        f"RETURNING {quote(str(field.column))}"
    )
    row = _run_insert(obj, db, f"insert_{obj._meta.db_table}_by_{field_name}", sql, [*params, value], returning=True)
    return None if row is None else row[0]


def _require_own_key(obj: Model) -> None:
    pk = obj._meta.pk
    assert pk is not None and not pk.db_returning, "these inserts need a primary key set before the insert"


def _run_insert(
    obj: Model, db: Any, name: str, sql: str, params: list[Any], *, returning: bool
) -> tuple[Any, ...] | None:
    """Run ``obj``'s INSERT on ``db`` as ``save`` would and mark ``obj`` as stored: the row
    ``RETURNING`` gave (``returning``; None when the statement stored nothing), else ``()``."""
    # As ``save``: inside a transaction, a failed insert marks it for rollback.
    with transaction.mark_for_rollback_on_error(db.alias), db.cursor() as cursor:
        execute_prepared(cursor, name, sql, params)
        row = cursor.fetchone() if returning else ()
    if row is not None:
        obj._state.adding = False
        obj._state.db = db.alias
    return row


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


_NAMED = re.compile(r"%\((\w+)\)s")


def _named(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with its ``%(name)s`` placeholders numbered, each name once, in order of first use.

    ``SELECT %(a)s + %(b)s, %(a)s`` is ``SELECT $1 + $2, $1`` with the names ``("a", "b")``:
    a value used in several places travels, and is adapted by psycopg2, once.
    """
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${names.setdefault(match.group(1), len(names) + 1)}"

    return "%".join(_NAMED.sub(number, part) for part in sql.split("%%")), tuple(names)


def _names(name: str, numbered: str, count: int) -> tuple[str, str]:
    """The session-level name of a numbered statement and its ``EXECUTE`` (``%s`` for each value)."""
    # Another text under the same name (another branch of a query builder) is another statement.
    key = f"{name}_{hashlib.sha256(numbered.encode()).hexdigest()[:12]}"
    return key, f"EXECUTE {key} ({', '.join(['%s'] * count)})" if count else f"EXECUTE {key}"


@cache
def _statement(name: str, sql: str) -> tuple[str, str, str, int]:
    """The session-level name, numbered text, ``EXECUTE`` and placeholder count of ``sql`` (built once)."""
    numbered, count = _numbered(sql)
    return *_names(name, numbered, count), numbered, count


@cache
def _named_statement(name: str, sql: str) -> tuple[str, str, str, tuple[str, ...]]:
    """The session-level name, numbered text, ``EXECUTE`` and placeholder names of ``sql`` (built once)."""
    numbered, names = _named(sql)
    return *_names(name, numbered, len(names)), numbered, names


def execute_prepared(cursor: Any, name: str, sql: str, params: list[Any] | dict[str, Any]) -> None:
    """Run ``sql`` as the server-side prepared statement ``name``, on ``cursor`` (a Django
    cursor: its ``db`` is the connection).

    ``sql`` takes its values as ``%s`` placeholders from a list, or as ``%(name)s``
    placeholders from a dict (a name may appear several times; its value is sent once).

    On PostgreSQL the statement is parsed, analysed and planned once per database session
    (``PREPARE``) and each call is an ``EXECUTE`` with the values: for the fraud velocity
    query, planning alone took three times as long as running it (0.37 against 0.13 ms).
    The names prepared are kept on the connection with the session they belong to, so a
    reconnection prepares again. Elsewhere, or with ``DB_PREPARED_STATEMENTS`` off (e.g.
    behind a pooler in transaction mode, which does not keep sessions), it is a plain
    ``execute``, with the same result.
    """
    db = cursor.db
    if db.vendor != "postgresql" or not hot_settings.DB_PREPARED_STATEMENTS:
        cursor.execute(sql, params)
        return
    raw = db.connection
    session = getattr(db, "_credit_prepared", None)
    if session is None or session[0] is not raw:  # a new database session: nothing prepared in it
        session = db._credit_prepared = (raw, set())
    prepared: set[str] = session[1]
    values: list[Any] | None
    if isinstance(params, dict):
        key, execute, numbered, names = _named_statement(name, sql)
        try:
            values = [params[n] for n in names]
        except KeyError:
            values = None
        if values is None or len(names) != len(params):
            raise ValueError(f"{name}: placeholders {sorted(names)} for values {sorted(params)}")
    else:
        key, execute, numbered, count = _statement(name, sql)
        if count != len(params):
            raise ValueError(f"{name}: {count} placeholders for {len(params)} values")
        values = params
    if key not in prepared:
        with transaction.atomic(db.alias):  # a failed PREPARE leaves the caller's transaction usable
            cursor.execute(f"PREPARE {key} AS {numbered}")
        prepared.add(key)
    cursor.execute(execute, values)
