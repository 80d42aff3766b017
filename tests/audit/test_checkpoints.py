"""Signed checkpoints of the chain's head, outside the database: removing the newest events is seen."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from rest_framework.test import APIClient

from audit.checkpoints import ChainTampered, CheckpointError, audit_checkpoint_write, checkpoint_latest
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.services import audit_record
from audit.tasks import audit_checkpoint
from tests.audit.test_chain import _events, _tamper

pytestmark = pytest.mark.django_db


def _remove_newest(n: int) -> None:
    """What the tables' owner can do: drop the trigger's protection and delete the last ``n`` events."""
    newest = list(AuditEvent.objects.order_by("-seq").values_list("pk", flat=True)[:n])
    _tamper("DELETE FROM audit_auditevent WHERE id = ANY(%s)", [newest])


def _file() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_FILE)


def test_removing_the_newest_events_after_a_checkpoint_fails_the_verification() -> None:
    events = _events(5)
    audit_checkpoint_write()
    call_command("verify_audit_chain")  # intact

    _remove_newest(2)

    report = audit_chain_verify()
    assert report.broken is not None and report.broken.seq == events[3].seq
    assert "the newest were removed" in report.broken.reason
    with pytest.raises(CommandError, match=f"audit chain broken at event #{events[3].seq}: missing"):
        call_command("verify_audit_chain")


def test_a_removed_tail_written_over_by_new_events_is_seen_as_replaced() -> None:
    events = _events(4)
    audit_checkpoint_write()
    _remove_newest(2)
    _events(3)  # the chain is as long again, and links up: only the checkpoint tells
    assert audit_chain_verify(checkpoint=None).ok

    report = audit_chain_verify()
    assert report.broken is not None and report.broken.seq == events[3].seq
    assert "differs from the checkpoint" in report.broken.reason


def test_no_checkpoint_is_written_for_a_chain_that_lost_its_tail(caplog: pytest.LogCaptureFixture) -> None:
    _events(4)
    first = audit_checkpoint_write()
    _remove_newest(1)
    _events(2)
    lines = _file().read_text()

    with caplog.at_level(logging.ERROR, logger="audit.checkpoint"), pytest.raises(ChainTampered):
        audit_checkpoint_write()

    assert _file().read_text() == lines
    assert checkpoint_latest() == first
    assert any(r.getMessage() == "audit chain broken: no checkpoint written" for r in caplog.records)
    with pytest.raises(CommandError, match="no checkpoint written|audit chain broken"):
        call_command("verify_audit_chain", "--checkpoint")


def test_a_checkpoint_line_written_without_the_key_is_refused() -> None:
    _events(3)
    audit_checkpoint_write()
    head = AuditEvent.objects.order_by("-seq").first()
    assert head is not None
    # Someone who can write the file but does not hold the key rewinds the head to event #1.
    forged = {"seq": 1, "hash": AuditEvent.objects.get(seq=1).hash, "taken_at": "2030-01-01T00:00:00+00:00"}
    with _file().open("a") as handle:
        handle.write(json.dumps({**forged, "mac": "0" * 64}) + "\n")

    with pytest.raises(CheckpointError, match="line 2 .* signature does not match"):
        audit_chain_verify()
    with pytest.raises(CommandError, match="audit checkpoints cannot be trusted"):
        call_command("verify_audit_chain")


def test_an_edited_checkpoint_line_is_refused() -> None:
    _events(3)
    audit_checkpoint_write()
    line = json.loads(_file().read_text())
    _file().write_text(json.dumps({**line, "seq": line["seq"] - 1}) + "\n")
    with pytest.raises(CheckpointError, match="signature does not match"):
        checkpoint_latest()


def test_a_checkpoint_signed_with_another_key_is_refused(settings: object) -> None:
    _events(2)
    settings.AUDIT_CHECKPOINT_KEY = "another-key-" * 5  # type: ignore[attr-defined]
    audit_checkpoint_write()
    settings.AUDIT_CHECKPOINT_KEY = "the-real-key-" * 5  # type: ignore[attr-defined]
    with pytest.raises(CheckpointError):
        checkpoint_latest()


def test_rotating_the_secret_key_keeps_the_checkpoints_readable_while_the_old_key_is_a_fallback(
    settings: object,
) -> None:
    _events(2)
    settings.SECRET_KEY = "old-secret-key-" * 4  # type: ignore[attr-defined]
    first = audit_checkpoint_write()
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-secret-key-" * 4, ["old-secret-key-" * 4]  # type: ignore[attr-defined]
    assert checkpoint_latest() == first
    _events(1)
    second = audit_checkpoint_write()  # signed with the new key
    assert audit_chain_verify().checkpoint == second
    settings.SECRET_KEY_FALLBACKS = []  # type: ignore[attr-defined]
    with pytest.raises(CheckpointError, match="line 1 .* no longer among the fallbacks"):
        checkpoint_latest()


def test_the_scheduled_task_appends_the_head_once_it_moved(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]["task"] == "audit.tasks.audit_checkpoint"
    _events(2)
    first = audit_checkpoint.delay().get()
    assert audit_checkpoint.delay().get() == first  # the head has not moved: no new line
    newest = _events(1)[0]
    assert audit_checkpoint.delay().get() == {"seq": newest.seq, "hash": newest.hash}
    assert len(_file().read_text().splitlines()) == 2

    call_command("verify_audit_chain")
    assert "agreeing with the checkpoint of" in capsys.readouterr().out


def test_without_a_checkpoint_the_command_says_what_it_could_not_check(capsys: pytest.CaptureFixture[str]) -> None:
    _events(2)
    call_command("verify_audit_chain")
    assert "no checkpoint yet" in capsys.readouterr().out
    call_command("verify_audit_chain", "--checkpoint")
    assert checkpoint_latest() is not None


def test_each_committed_event_logs_its_head_which_anchors_the_check(
    caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    _events(2)
    with caplog.at_level(logging.INFO, logger="audit.checkpoint"):
        with django_capture_on_commit_callbacks(execute=True):  # the log line leaves at commit
            newest = audit_record(actor=None, action="test.event", details={"n": 9})
            assert not caplog.records
        # never for an event rolled back
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
            audit_record(actor=None, action="test.rolled_back")
            raise RuntimeError
    (record,) = caplog.records
    assert (record.audit_seq, record.audit_hash) == (newest.seq, newest.hash)  # type: ignore[attr-defined]

    _remove_newest(1)
    with pytest.raises(CommandError, match=f"event #{newest.seq}: missing: the anchor given"):
        call_command("verify_audit_chain", "--anchor", f"{newest.seq}:{newest.hash}")


@pytest.mark.parametrize("anchor", ["12", "x:" + "0" * 64, "3:" + "g" * 64, "0:" + "0" * 64])
def test_a_malformed_anchor_is_refused_by_name(anchor: str) -> None:
    with pytest.raises(CommandError, match="--anchor: an anchor is SEQ:HASH"):
        call_command("verify_audit_chain", "--anchor", anchor)


def test_the_admins_check_compares_with_the_checkpoint_too(client_as: Callable[[str | None], APIClient]) -> None:
    _events(3)
    api = client_as("compliance")
    page = api.get("/admin/audit/auditevent/verify/", follow=True).content.decode()
    assert "no checkpoint yet" in page
    audit_checkpoint_write()
    assert "agreeing with the checkpoint of" in api.get("/admin/audit/auditevent/verify/", follow=True).content.decode()
    newest = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True)[0]  # the officer's login is one
    _remove_newest(1)
    page = api.get("/admin/audit/auditevent/verify/", follow=True).content.decode()
    assert f"Audit chain BROKEN at event #{newest}: missing" in page
    with _file().open("a") as handle:
        handle.write('{"seq": 1, "hash": "x", "taken_at": "now", "mac": "0"}\n')
    page = api.get("/admin/audit/auditevent/verify/", follow=True).content.decode()
    assert "Audit checkpoints cannot be trusted: line 2" in page
