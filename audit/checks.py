"""``check --deploy --database default``: the platform's database role cannot rewrite the evidence."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError, connections


@register(Tags.database, deploy=True)
def database_role_check(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the role the platform connects with could change or delete the audit trail or the
    fraud rule evidence: a superuser, the tables' owner (who can drop their triggers), or a role
    with the privilege. Runs only when a database is named (``--database``), as Django's own."""
    from audit.database_roles import role_problems

    messages: list[CheckMessage] = []
    for alias in databases or []:
        conn = connections[alias]
        if conn.vendor != "postgresql":
            continue
        try:
            problems = role_problems(conn=conn)
        except DatabaseError as exc:
            messages.append(
                CheckWarning(f"Could not read the privileges of database {alias!r}: {exc}", id="audit.W002")
            )
            continue
        messages += [
            CheckWarning(
                f"The platform connects to database {alias!r} with more than it needs: {problem}.",
                hint="As the tables' owner, run `python manage.py database_roles`, then connect the web processes "
                "and workers as its application role (docs/security.md, 'Database roles').",
                id="audit.W001",
            )
            for problem in problems
        ]
    return messages
