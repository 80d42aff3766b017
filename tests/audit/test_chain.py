"""The audit trail: append-only, hash-chained, refused to every role and to the database itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, InternalError, connection, transaction
from rest_framework.test import APIClient

from audit.models import GENESIS_HASH, AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_record
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db


def _events(n: int) -> list[AuditEvent]:
    return [audit_record(actor=None, action="test.event", target=("test.thing", i), details={"n": i}) for i in range(n)]


def _tamper(sql: str, params: list[Any]) -> None:
    """Change the table behind the application's back, as a database superuser could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def test_each_event_carries_the_hash_of_the_previous_one() -> None:
    first, second, third = _events(3)[-3:]
    start = AuditEvent.objects.order_by("seq").first()
    assert start is not None and start.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert third.seq == second.seq + 1
    report = audit_chain_verify()
    assert report.ok and report.checked == AuditEvent.objects.count()


def test_changing_one_row_breaks_the_chain_at_that_row(capsys: pytest.CaptureFixture[str]) -> None:
    events = _events(5)
    victim = events[2]
    _tamper("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"n": 99}', victim.pk])
    report = audit_chain_verify()
    assert report.broken is not None and report.broken.seq == victim.seq
    with pytest.raises(CommandError, match=f"event #{victim.seq}"):
        call_command("verify_audit_chain")


def test_removing_a_row_is_detected_at_the_gap() -> None:
    events = _events(4)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    report = audit_chain_verify()
    assert report.broken is not None and report.broken.seq == events[1].seq
    assert "missing" in report.broken.reason


def test_a_row_rehashed_to_hide_a_change_is_caught_by_its_successor() -> None:
    events = _events(4)
    victim = events[1]
    victim.actor_name = "someone-else"
    forged = victim.expected_hash()
    _tamper("UPDATE audit_auditevent SET actor_name = %s, hash = %s WHERE id = %s", ["someone-else", forged, victim.pk])
    report = audit_chain_verify()
    assert report.broken is not None and report.broken.seq == events[2].seq


def test_the_command_reports_an_intact_chain(capsys: pytest.CaptureFixture[str]) -> None:
    _events(3)
    call_command("verify_audit_chain")
    assert "intact" in capsys.readouterr().out


def test_the_model_refuses_to_change_or_delete_an_event() -> None:
    event = _events(1)[0]
    event.action = "rewritten"
    with pytest.raises(ValueError, match="never changed"):
        event.save()
    with pytest.raises(ValueError, match="never deleted"):
        event.delete()


@pytest.mark.parametrize("statement", ["UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"])
def test_the_database_refuses_update_and_delete_on_the_trail(statement: str) -> None:
    require_postgresql()
    _events(2)
    with pytest.raises(InternalError, match="Cannot"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.filter(action="test.event").count() == 2


def test_the_orm_bulk_paths_are_refused_by_the_database_too() -> None:
    require_postgresql()
    _events(1)
    with pytest.raises(InternalError), transaction.atomic():
        AuditEvent.objects.update(action="x")
    with pytest.raises(InternalError), transaction.atomic():
        AuditEvent.objects.all()._raw_delete(connection.alias)


@pytest.mark.parametrize("role", ["admin", "analyst", "viewer", "compliance"])
def test_no_role_can_edit_or_delete_an_event_in_the_admin(
    role: str, client_as: Callable[[str | None], APIClient]
) -> None:
    event = _events(1)[0]
    api = client_as(role)
    change = api.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "rewritten"}, format="multipart")
    delete = api.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}, format="multipart")
    bulk = api.post(
        "/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk]}, format="multipart"
    )
    assert change.status_code == 403 and delete.status_code == 403
    assert bulk.status_code in (200, 403)  # no action is offered: nothing happens
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.action == "test.event" and audit_chain_verify().ok


def test_personal_data_keys_are_refused_in_details() -> None:
    with pytest.raises(ValueError, match="personal data"):
        audit_record(actor=None, action="test.event", details={"nested": {"email": "a@b.test"}})


def test_two_concurrent_writers_never_fork_the_chain(transactional_db: None) -> None:
    require_postgresql()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(15):
                audit_record(actor=f"system:writer-{n}", action="test.concurrent", details={"i": i})
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert AuditEvent.objects.filter(action="test.concurrent").count() == 45
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert audit_chain_verify().ok


def test_a_fork_is_impossible_even_without_the_lock() -> None:
    first = _events(1)[0]
    twin = AuditEvent(
        seq=first.seq,
        created_at=first.created_at,
        actor="system",
        action="test.fork",
        prev_hash=first.prev_hash,
        hash="f" * 64,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)
