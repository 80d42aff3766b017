"""The least-privilege PostgreSQL roles (``manage.py database_roles``), on PostgreSQL.

The platform's work, run as the application role: decisions, fraud checks, a batch job, an API
key, an erasure. Then what that role is refused by the database itself, whatever the triggers:
rewriting the audit trail or the fraud rule evidence, DDL, the migration table. The reporting
role reads decision records and nothing that identifies a person or opens the platform.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from io import StringIO

import psycopg2
import psycopg2.errors
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import ProgrammingError, connection
from django.utils import timezone
from rest_framework.test import APIClient

from audit.checks import database_role_check
from audit.database_roles import protections, role_problems
from audit.models import AuditEvent
from privacy import services as privacy_services
from privacy.models import GdprRequest
from scoring.batch.services import batch_job_submit
from scoring.models import BatchJob, Client, Decision, ModelVersion
from tests.factories import ClientFactory, batch_caller
from tests.privacy.conftest import make_history
from tests.scoring.batchfiles import applicants_csv
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)


def _drop(role: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone():
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def roles(transactional_db: None) -> Iterator[tuple[str, str]]:
    """Role names of this test database only (roles belong to the whole server), dropped after."""
    require_postgresql()
    base = re.sub(r"[^a-z0-9_]", "_", connection.settings_dict["NAME"].lower())[:40]
    names = (f"{base}_app", f"{base}_reporting")
    for name in names:
        _drop(name)
    yield names
    connection.close()
    for name in names:
        _drop(name)


@pytest.fixture
def as_role() -> Iterator[Callable[[str | None], None]]:
    """Switch this test's database connection to another role (None: the owner again, as afterwards)."""
    owner = connection.settings_dict["USER"]

    def switch(role: str | None) -> None:
        connection.close()
        connection.settings_dict["USER"] = role or owner

    yield switch
    connection.close()
    connection.settings_dict["USER"] = owner


def refused(sql: str) -> None:
    """The statement is refused for want of a privilege (SQLSTATE 42501), not by a trigger."""
    with pytest.raises(ProgrammingError) as caught, connection.cursor() as cursor:
        cursor.execute(sql)
    assert isinstance(caught.value.__cause__, psycopg2.errors.InsufficientPrivilege), caught.value
    connection.close()  # a fresh transaction for the next statement


def test_the_platform_does_its_work_as_the_application_role_and_cannot_rewrite_the_evidence(
    roles: tuple[str, str],
    as_role: Callable[[str | None], None],
    key_client: Callable[..., APIClient],
    credit_model: ModelVersion,
    fraud_model: ModelVersion,
) -> None:
    app_role, reporting_role = roles
    out = StringIO()
    call_command("database_roles", app_role=app_role, reporting_role=reporting_role, stdout=out)
    assert "cannot change or delete the evidence (audit_auditevent, fraud_fraudruleset" in out.getvalue()
    person = ClientFactory(client_id="C8801", last_name="Zqxroles")
    make_history(person, transactions=1, resolved_alert=False)
    officers = [User.objects.create(username=f"officer-{n}") for n in "ab"]
    analyst = batch_caller()  # the batch job's caller: one who may score

    as_role(app_role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == app_role
    api = key_client("analyst", ["score", "fraud"])  # an API key and its audit event
    score = api.post("/api/v1/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}, format="json")
    assert score.status_code == 201, score.json()
    fraude = api.post(
        "/api/v1/fraude",
        {"transaction_id": "TX-ROLES-1", "montant": 20, "type": "virement", "client_id": "C8802"},
        format="json",
    )
    assert fraude.status_code == 201, fraude.json()
    job = batch_job_submit(  # chunks scored once this commits, through the staging temporary table
        data=applicants_csv(30, seed=3).encode(), filename="roles.csv", caller=analyst, source="api"
    )
    now = timezone.now()
    request = GdprRequest.objects.create(
        kind="erasure", client=person, status="approved", received_at=now, due_at=now + timedelta(days=30),
        recorded_by=officers[0], approved_by=officers[1], approved_at=now,
    )  # fmt: skip
    assert privacy_services.erasure_execute(request=request).done
    assert role_problems() == []

    # The evidence, refused by the database's privileges (the triggers would come second).
    refused("UPDATE audit_auditevent SET action = 'rewritten'")
    refused("DELETE FROM audit_auditevent")
    refused("DELETE FROM fraud_fraudruleset")
    refused("DELETE FROM fraud_fraudruleversion")
    refused("UPDATE fraud_fraudruleversion SET condition = 'false'")
    refused("TRUNCATE scoring_decision")
    refused("CREATE TABLE scratch (id int)")
    refused("INSERT INTO django_migrations (app, name, applied) VALUES ('scoring', '9999_forged', now())")
    with connection.cursor() as cursor:  # what a removed staff account does to a rule version: allowed
        cursor.execute("UPDATE fraud_fraudruleversion SET created_by_id = NULL WHERE created_by_id IS NULL")

    as_role(None)
    stored = BatchJob.objects.get(pk=job.pk)
    assert (stored.rows_scored + stored.rows_rejected, stored.status) == (30, "completed")
    assert Decision.objects.filter(batch_job=stored).count() == stored.rows_scored
    assert Client.objects.get(pk=person.pk).erased_at is not None
    assert AuditEvent.objects.filter(action="apikey.created").exists()


def test_the_reporting_role_reads_decisions_and_nothing_that_identifies_a_person_or_opens_the_platform(
    roles: tuple[str, str], credit_model: ModelVersion
) -> None:
    app_role, reporting_role = roles
    make_history(ClientFactory(client_id="C8803"), transactions=1)
    call_command("database_roles", app_role=app_role, reporting_role=reporting_role, stdout=StringIO())
    settings = connection.settings_dict
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    reporting = psycopg2.connect(dbname=settings["NAME"], user=reporting_role, host=host, port=port)
    try:
        with reporting.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM scoring_decision")
            assert cursor.fetchone()[0] == 1
            reporting.rollback()
            secret = ("scoring_client", "accounts_apikey", "auth_user", "django_session", "scoring_decisionwebhook")
            for table in secret:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
                reporting.rollback()
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute("DELETE FROM scoring_decision")
            reporting.rollback()
    finally:
        reporting.close()


def test_the_deploy_check_warns_while_the_platform_connects_as_a_superuser_and_not_as_the_application_role(
    roles: tuple[str, str], as_role: Callable[[str | None], None]
) -> None:
    app_role, _ = roles
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone()[0], "the tests connect as a superuser"
    warnings = database_role_check(databases=["default"])
    assert [w.id for w in warnings] == ["audit.W001"]
    assert "superuser" in warnings[0].msg and "database_roles" in (warnings[0].hint or "")
    call_command("database_roles", app_role=app_role, reporting_role="", stdout=StringIO())
    as_role(app_role)
    assert database_role_check(databases=["default"]) == []
    assert database_role_check(databases=None) == []  # only when a database is named, as Django's own


def test_a_role_given_the_privilege_again_by_hand_is_named_and_the_command_takes_it_back(
    roles: tuple[str, str],
) -> None:
    app_role, _ = roles
    call_command("database_roles", app_role=app_role, reporting_role="", stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT UPDATE, DELETE ON audit_auditevent TO "{app_role}"')
        cursor.execute(f'GRANT UPDATE ON fraud_fraudruleversion TO "{app_role}"')
    assert role_problems(role=app_role) == [
        f"{app_role} may UPDATE audit_auditevent",
        f"{app_role} may DELETE from audit_auditevent",
        *(f"{app_role} may UPDATE fraud_fraudruleversion.{c}" for c in protections()[-1].frozen_columns),
    ]
    call_command("database_roles", app_role=app_role, reporting_role="", stdout=StringIO())  # converges
    assert role_problems(role=app_role) == []


def test_bad_role_names_are_refused_and_sql_only_prints(roles: tuple[str, str]) -> None:
    app_role, _ = roles
    with pytest.raises(CommandError, match="is not a role name"):
        call_command("database_roles", app_role='app"; DROP TABLE x; --', stdout=StringIO())
    with pytest.raises(CommandError, match="must not be the application role"):
        call_command("database_roles", app_role=app_role, reporting_role=app_role, stdout=StringIO())
    out = StringIO()
    call_command("database_roles", app_role=app_role, reporting_role="", sql=True, stdout=out)
    assert f'REVOKE UPDATE ON TABLE "public"."audit_auditevent" FROM "{app_role}";' in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [app_role])
        assert cursor.fetchone()[0] == 0  # printed, not run


def test_the_application_role_password_comes_from_the_environment_and_is_never_printed(
    roles: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_role, _ = roles
    with pytest.raises(CommandError, match="APP_DB_PASSWORD is not set"):
        call_command("database_roles", app_role=app_role, reporting_role="", app_password_env="APP_DB_PASSWORD")
    monkeypatch.setenv("APP_DB_PASSWORD", "Zqx-s3cret-pw")
    out = StringIO()
    call_command("database_roles", app_role=app_role, reporting_role="", app_password_env="APP_DB_PASSWORD", stdout=out)
    assert "Zqx-s3cret-pw" not in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [app_role])
        stored = cursor.fetchone()[0]
    assert stored and stored.startswith("SCRAM-SHA-256$") and "Zqx-s3cret-pw" not in stored
