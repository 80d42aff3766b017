"""The audit trail: one append-only, hash-chained table of what people and jobs did."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pgtrigger
from django.db import models
from django.db.models import Q

GENESIS_HASH = "0" * 64


def event_digest(
    *,
    seq: int,
    created_at: str,
    actor: str,
    actor_name: str,
    action: str,
    target_type: str,
    target_id: str,
    details: Any,
    prev_hash: str,
) -> str:
    """SHA-256 of an event's content and its predecessor's hash (canonical JSON, sorted keys)."""
    body = json.dumps(
        [seq, created_at, actor, actor_name, action, target_type, target_id, details, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


class AuditEvent(models.Model):
    """Who did what to which object, when: written once by ``audit.services.audit_record``.

    Never changed, never deleted: the model refuses it, the admin offers no way to, and on
    PostgreSQL a trigger (django-pgtrigger) refuses ``UPDATE`` and ``DELETE`` on the table.
    Each event carries the hash of the previous one (``seq`` orders the chain), so a row
    changed or removed behind the application's back breaks the chain at that row
    (``python manage.py verify_audit_chain``).

    ``details`` never holds personal data of clients: ids of records, counts, versions,
    thresholds, roles. The actor is a staff user, an API key or the platform itself.
    """

    seq = models.PositiveBigIntegerField(unique=True, editable=False, help_text="Position in the chain, from 1.")
    created_at = models.DateTimeField(editable=False, db_index=True)
    actor = models.CharField(
        max_length=100, editable=False, help_text="user:<id>, apikey:<prefix>, oidc:<hash>, system:…"
    )
    actor_name = models.CharField(max_length=150, blank=True, editable=False, help_text="Staff username at the time.")
    action = models.CharField(max_length=60, editable=False, db_index=True)
    target_type = models.CharField(max_length=100, blank=True, editable=False, help_text="app_label.model")
    target_id = models.CharField(max_length=64, blank=True, editable=False)
    details = models.JSONField(default=dict, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-seq"]
        verbose_name = "audit event"
        constraints = [
            models.CheckConstraint(condition=Q(seq__gte=1), name="auditevent_seq_positive"),
            models.CheckConstraint(condition=~Q(action=""), name="auditevent_action_not_empty"),
        ]
        indexes = [models.Index(fields=["target_type", "target_id"], name="auditevent_target_idx")]
        triggers = [
            pgtrigger.Protect(
                name="auditevent_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("An audit event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("An audit event is never deleted.")

    def expected_hash(self) -> str:
        return event_digest(
            seq=self.seq,
            created_at=self.created_at.isoformat(),
            actor=self.actor,
            actor_name=self.actor_name,
            action=self.action,
            target_type=self.target_type,
            target_id=self.target_id,
            details=self.details,
            prev_hash=self.prev_hash,
        )
