"""The one way to write the audit trail: ``audit_record``.

Any app may call it (it imports nothing from the other apps). Call it inside the
transaction of the change it records, as its last statement: the event then commits or
rolls back with the change, and the chain lock is held for as short a time as possible.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from audit.models import GENESIS_HASH, AuditEvent, event_digest

logger = logging.getLogger("audit.checkpoint")

# pg_advisory_xact_lock key that serialises writers of the chain (an arbitrary constant).
CHAIN_LOCK_KEY = 0x6175646974  # "audit"

# Keys that name personal data of clients: refused in ``details`` (pass record ids instead).
PERSONAL_KEYS = frozenset(
    {
        "client_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "address",
        "birth_date",
        "beneficiary",
        "device_id",
        "iban",
        "transaction_id",
        "application_id",
    }
)


@dataclass(frozen=True)
class Actor:
    """Who acted, as the trail writes it: a pseudonymous label and, for staff, the username."""

    label: str
    name: str = ""


SYSTEM = Actor("system")


def actor_of(actor: Any) -> Actor:
    """``None`` is the platform itself; a string is a label (``system:retention``); users, API keys
    and bearer-token principals are recognised by their attributes (no import of accounts)."""
    if actor is None:
        return SYSTEM
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, str):
        return Actor(actor[:100])
    label = getattr(actor, "label", None)
    if isinstance(label, str):  # an API key row or a ServicePrincipal (API key, bearer token)
        name = getattr(actor, "name", "") if getattr(actor, "pk", None) is not None else ""
        return Actor(label[:100], str(name or "")[:150])
    pk = getattr(actor, "pk", None)
    if pk is not None and hasattr(actor, "get_username"):
        return Actor(f"user:{pk}", str(actor.get_username())[:150])
    return SYSTEM


def _target(target: Any) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        kind, ident = target
        return str(kind)[:100], str(ident)[:64]
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)[:64]
    raise TypeError("target is a model instance, a (type, id) pair or None")


def _clean_details(details: dict[str, Any] | None) -> dict[str, Any]:
    clean = json.loads(json.dumps(details or {}, default=str))
    if not isinstance(clean, dict):
        raise TypeError("details is a JSON object")

    def check(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key.lower() in PERSONAL_KEYS:
                    raise ValueError(f"audit details never carry personal data: {key!r}")
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)

    check(clean)
    return clean


def _lock_chain() -> None:
    """Serialise writers: two events must never take the same predecessor (a fork)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    # SQLite has one writer at a time; the unique seq would refuse a fork anyway.


def audit_record(*, actor: Any, action: str, target: Any = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the trail (in the caller's transaction, or its own)."""
    if not action:
        raise ValueError("an audit event names its action")
    who = actor_of(actor)
    target_type, target_id = _target(target)
    clean = _clean_details(details)
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        created_at = timezone.now()
        event = AuditEvent(
            seq=seq,
            created_at=created_at,
            actor=who.label,
            actor_name=who.name,
            action=action[:60],
            target_type=target_type,
            target_id=target_id,
            details=clean,
            prev_hash=prev_hash,
        )
        event.hash = event.expected_hash()
        event.save(force_insert=True)
        # The head, once committed, in the log store too: an anchor outside the database for every
        # event, between two signed checkpoints (audit.checkpoints).
        head = {"audit_seq": event.seq, "audit_hash": event.hash, "audit_action": event.action}
        transaction.on_commit(lambda: logger.info("audit event", extra=head))
    return event


__all__ = ["SYSTEM", "Actor", "actor_of", "audit_record", "event_digest"]
