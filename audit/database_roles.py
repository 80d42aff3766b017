"""Least-privilege PostgreSQL roles: an application role that cannot rewrite the evidence, and a
read-only reporting role.

The role that runs ``migrate`` owns the tables. Whoever owns a table can drop its triggers, so
the triggers that keep the evidence append-only (``pgtrigger.Protect`` on the audit trail and on
the fraud rule sets and versions) stop mistakes and the application's own code, not a process
that connects as the owner. The web processes and the workers connect as the **application
role** instead:

- read and write on every table (``SELECT, INSERT, UPDATE, DELETE``), no ``TRUNCATE``, no DDL,
  read-only on ``django_migrations``;
- on a table a ``Protect`` trigger guards, the privilege goes too: no ``UPDATE``/``DELETE`` on
  the audit trail and on rule sets, no ``DELETE`` on rule versions and ``UPDATE`` only of the
  columns the trigger lets change (``created_by``). The database then refuses the statement
  for want of the privilege, before any trigger runs, even if the trigger is gone;
- default privileges, so the tables of later migrations are usable at once (re-run the command
  after a migration that protects a new table: it converges, whatever was granted before).

The **reporting role** (drift analyses, a warehouse's extracts) reads the decision records
only, by an allow-list: never sessions, password or key hashes, webhook secrets, identity links
or the clients' identity fields.

One home: the protections are read from the models' ``Meta.triggers``, so a table protected by
a new ``Protect`` trigger loses the privilege too. ``manage.py database_roles`` applies or
prints this; ``check --deploy --database default`` warns when the platform connects with more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pgtrigger
from django.apps import apps
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# What the reporting role reads: the decisions, what they were made with and what came of them.
REPORTING_MODELS = (
    "scoring.Decision",
    "scoring.ModelVersion",
    "scoring.BatchJob",
    "fraud.Transaction",
    "fraud.FraudCheck",
    "fraud.FraudAlert",
    "fraud.FraudRuleSet",
    "fraud.FraudRuleVersion",
    "governance.Outcome",
    "governance.PerformanceReport",
    "governance.FairnessReport",
    "monitoring.DriftReport",
    "audit.AuditEvent",
)


class RoleError(ValueError):
    """A role that cannot be set up as asked (bad name, not PostgreSQL)."""


@dataclass(frozen=True)
class Protection:
    """What a table's ``Protect`` triggers refuse, as privileges."""

    table: str
    no_update: bool = False
    no_delete: bool = False
    updatable_columns: tuple[str, ...] | None = None  # UPDATE of these columns only (a conditional trigger)
    frozen_columns: tuple[str, ...] = ()  # the columns that trigger keeps


def protections() -> list[Protection]:
    """The append-only tables, from the models' ``pgtrigger.Protect`` triggers."""
    found: list[Protection] = []
    for model in apps.get_models():
        triggers = [t for t in getattr(model._meta, "triggers", []) if isinstance(t, pgtrigger.Protect)]
        if not triggers:
            continue
        no_update = no_delete = False
        frozen: set[str] = set()
        for trigger in triggers:
            operations = str(trigger.operation).split(" OR ")
            no_delete |= "DELETE" in operations
            if "UPDATE" not in operations:
                continue
            fields = getattr(trigger.condition, "fields", None)
            if trigger.condition is None:  # every UPDATE refused
                no_update = True
            elif isinstance(trigger.condition, pgtrigger.AnyChange) and fields:
                frozen |= {str(getattr(model._meta.get_field(name), "column", name)) for name in fields}
            # else: a condition privileges cannot express; the table's UPDATE stays and the trigger guards it
        updatable: tuple[str, ...] | None = None
        kept: tuple[str, ...] = ()
        if frozen and not no_update:
            columns = [str(f.column) for f in model._meta.concrete_fields if not f.primary_key]
            updatable = tuple(c for c in columns if c not in frozen)
            kept = tuple(sorted(frozen))
        found.append(
            Protection(
                model._meta.db_table,
                no_update=no_update,
                no_delete=no_delete,
                updatable_columns=updatable,
                frozen_columns=kept,
            )
        )
    return sorted(found, key=lambda p: p.table)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _role(name: str) -> str:
    if not ROLE_NAME.match(name):
        raise RoleError(f"{name!r} is not a role name: a-z, 0-9 and _, at most 63, not starting with a digit.")
    return _ident(name)


def _create(role: str, name: str) -> str:
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN "
        f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT; END IF; END $$"
    )


def role_statements(*, app_role: str, reporting_role: str | None, database: str, schema: str = "public") -> list[str]:
    """The SQL that creates (when missing) and converges both roles, run by the tables' owner."""
    app, db, ns = _role(app_role), _ident(database), _ident(schema)
    statements = [
        _create(app, app_role),
        f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {app}",  # batch jobs stage rows in a temporary table
        f"GRANT USAGE ON SCHEMA {ns} TO {app}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {ns} FROM {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {ns} TO {app}",
        f"REVOKE INSERT, UPDATE, DELETE ON TABLE {ns}.{_ident('django_migrations')} FROM {app}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {ns} FROM {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {ns} TO {app}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {ns} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {ns} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
    ]
    for protection in protections():
        table = f"{ns}.{_ident(protection.table)}"
        if protection.no_delete:
            statements.append(f"REVOKE DELETE ON TABLE {table} FROM {app}")
        if protection.no_update or protection.updatable_columns is not None:
            statements.append(f"REVOKE UPDATE ON TABLE {table} FROM {app}")
        if protection.updatable_columns:
            columns = ", ".join(_ident(c) for c in protection.updatable_columns)
            statements.append(f"GRANT UPDATE ({columns}) ON TABLE {table} TO {app}")
    if reporting_role:
        if reporting_role == app_role:
            raise RoleError("The reporting role must not be the application role.")
        ro = _role(reporting_role)
        statements += [
            _create(ro, reporting_role),
            f"GRANT CONNECT ON DATABASE {db} TO {ro}",
            f"GRANT USAGE ON SCHEMA {ns} TO {ro}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {ns} FROM {ro}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {ns} FROM {ro}",
            *(
                f"GRANT SELECT ON TABLE {ns}.{_ident(apps.get_model(label)._meta.db_table)} TO {ro}"
                for label in REPORTING_MODELS
            ),
        ]
    return statements


def _require_postgresql(conn: BaseDatabaseWrapper) -> None:
    if conn.vendor != "postgresql":
        raise RoleError(f"Database roles are PostgreSQL's; this database is {conn.vendor}.")


def roles_apply(*, app_role: str, reporting_role: str | None, app_password: str | None = None) -> list[str]:
    """Create (when missing) and converge both roles in one transaction; returns the statements run.

    ``app_password`` sets the application role's password, through the driver's own cursor: the
    statement never passes Django's query log."""
    _require_postgresql(connection)
    statements = role_statements(
        app_role=app_role, reporting_role=reporting_role, database=connection.settings_dict["NAME"]
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
        if app_password:
            with connection.connection.cursor() as raw:
                raw.execute(f"ALTER ROLE {_role(app_role)} PASSWORD %s", [app_password])
    return statements


def role_problems(*, role: str | None = None, conn: BaseDatabaseWrapper = connection) -> list[str]:
    """What ``role`` (default: the role this connection uses) could do to the evidence that it should not."""
    _require_postgresql(conn)
    problems: list[str] = []
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_user")
        name = role or cursor.fetchone()[0]
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [name])
        row = cursor.fetchone()
        if row is None:
            return [f"role {name} does not exist"]
        if row[0]:
            return [f"{name} is a superuser: no privilege and no trigger binds it"]
        cursor.execute("SELECT has_schema_privilege(%s, 'public', 'CREATE')", [name])
        if cursor.fetchone()[0]:
            problems.append(f"{name} may create tables in schema public")
        for protection in protections():
            cursor.execute(
                "SELECT tableowner = %s, has_table_privilege(%s, tablename, 'UPDATE'), "
                "has_table_privilege(%s, tablename, 'DELETE'), has_table_privilege(%s, tablename, 'TRUNCATE') "
                "FROM pg_tables WHERE schemaname = 'public' AND tablename = %s",
                [name, name, name, name, protection.table],
            )
            found = cursor.fetchone()
            if found is None:
                continue  # not migrated yet
            owner, update, delete, truncate = found
            if owner:
                problems.append(f"{name} owns {protection.table}: it could drop the trigger that protects it")
                continue
            if protection.no_update and update:
                problems.append(f"{name} may UPDATE {protection.table}")
            if protection.no_delete and delete:
                problems.append(f"{name} may DELETE from {protection.table}")
            if truncate:
                problems.append(f"{name} may TRUNCATE {protection.table}")
            for column in protection.frozen_columns:
                cursor.execute("SELECT has_column_privilege(%s, %s, %s, 'UPDATE')", [name, protection.table, column])
                if cursor.fetchone()[0]:
                    problems.append(f"{name} may UPDATE {protection.table}.{column}")
    return problems
