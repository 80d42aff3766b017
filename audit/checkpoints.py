"""Checkpoints of the audit chain's head, kept outside the database: what makes a removed tail visible.

The hash chain shows a changed or removed row *inside* the trail, but not the removal of its
newest events: whoever may ``DELETE`` (the tables' owner, who can drop the trigger) leaves a
shorter chain that still verifies. A checkpoint records the head: the newest event's ``seq``
and ``hash`` and when it was taken. It is

- appended, one JSON line each, to ``AUDIT_CHECKPOINT_FILE`` (a file, never the database),
  signed with an HMAC under ``AUDIT_CHECKPOINT_KEY`` (default: a key derived from
  ``SECRET_KEY``), so a line written by someone without the key is refused;
- logged (logger ``audit.checkpoint``), so the log store holds the head too.

``verify_audit_chain`` then requires the event the newest checkpoint names, with that hash:
fewer events means the tail was removed, another hash that it was replaced. A checkpoint is
written only after the events since the previous one were checked, so a tampered chain is
never vouched for. What this does and does not stop is in docs/security.md
("Audit trail: a removed tail is detected").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent

logger = logging.getLogger("audit.checkpoint")

ANCHOR = "anchor"  # the ``taken_at`` of a head given on the command line (from the log store)


class CheckpointError(Exception):
    """The checkpoint file cannot be trusted (a line forged, damaged or unreadable)."""


class ChainTampered(Exception):
    """The chain no longer agrees with the newest checkpoint: no new checkpoint is written."""


@dataclass(frozen=True)
class Checkpoint:
    """The head of the chain at a moment: the newest event's position and hash."""

    seq: int
    hash: str
    taken_at: str

    def body(self) -> dict[str, object]:
        return {"seq": self.seq, "hash": self.hash, "taken_at": self.taken_at}

    def __str__(self) -> str:
        if self.taken_at == ANCHOR:
            return f"the anchor given (event #{self.seq})"
        return f"the checkpoint of {self.taken_at} (event #{self.seq})"


def _keys() -> list[bytes]:
    """The signing key first, then the keys of a rotation still accepted when reading.

    ``AUDIT_CHECKPOINT_KEY`` and its ``AUDIT_CHECKPOINT_KEY_FALLBACKS``; without it, keys derived
    from ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` (rotating ``SECRET_KEY`` as Django documents it
    keeps the file readable)."""
    if settings.AUDIT_CHECKPOINT_KEY:
        secrets = [settings.AUDIT_CHECKPOINT_KEY, *settings.AUDIT_CHECKPOINT_KEY_FALLBACKS]
    else:
        secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [hashlib.sha256(b"audit-checkpoint:" + secret.encode()).digest() for secret in secrets]


def _mac(body: dict[str, object], key: bytes | None = None) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(key or _keys()[0], text.encode(), hashlib.sha256).hexdigest()


def _path() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_FILE)


def checkpoint_parse(line: str) -> Checkpoint:
    """One line of the file, its signature checked; ``ValueError`` when it does not hold."""
    try:
        data = json.loads(line)
        checkpoint = Checkpoint(seq=int(data["seq"]), hash=str(data["hash"]), taken_at=str(data["taken_at"]))
        mac = str(data["mac"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("not a checkpoint") from exc
    if not any(hmac.compare_digest(mac, _mac(checkpoint.body(), key)) for key in _keys()):
        raise ValueError(
            "its signature does not match (forged, edited, or signed with a key no longer among the fallbacks)"
        )
    return checkpoint


def checkpoint_latest() -> Checkpoint | None:
    """The checkpoint of the longest chain in the file; ``None`` when there is no file yet.

    Every line must hold: one that does not is a forgery or damage, never skipped silently."""
    path = _path()
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint file {path}: {exc.strerror}") from exc
    latest: Checkpoint | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            checkpoint = checkpoint_parse(line)
        except ValueError as exc:
            raise CheckpointError(f"line {number} of the checkpoint file {path}: {exc}") from exc
        if latest is None or checkpoint.seq > latest.seq:
            latest = checkpoint
    return latest


def _check_since(checkpoint: Checkpoint) -> tuple[int, str]:
    """The chain from the checkpoint's event to the head still links up; the head's (seq, hash)."""
    prev_hash: str | None = None
    expected = checkpoint.seq
    for event in AuditEvent.objects.filter(seq__gte=checkpoint.seq).order_by("seq").iterator(chunk_size=2000):
        if event.seq != expected:
            raise ChainTampered(f"event #{expected} is missing")
        if prev_hash is None and event.hash != checkpoint.hash:
            raise ChainTampered(f"event #{event.seq} differs from {checkpoint}")
        if prev_hash is not None and event.prev_hash != prev_hash:
            raise ChainTampered(f"event #{event.seq} does not follow the previous event's hash")
        if event.hash != event.expected_hash():
            raise ChainTampered(f"event #{event.seq}: content does not match its hash (changed)")
        prev_hash, expected = event.hash, event.seq + 1
    if prev_hash is None:
        raise ChainTampered(f"event #{checkpoint.seq} is missing: {checkpoint} vouched for it (the tail was removed)")
    return expected - 1, prev_hash


def audit_checkpoint_write() -> Checkpoint | None:
    """Append a checkpoint of the current head, after checking the events since the newest one.

    Returns the new checkpoint, the newest one when the head has not moved, or ``None`` while
    the trail is empty. Raises ``ChainTampered`` (and logs it) instead of vouching for a chain
    that lost or changed events, and ``CheckpointError`` when the file cannot be trusted.
    """
    previous = checkpoint_latest()
    if previous is None:
        head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        if head is None:
            return None
        from audit.selectors import audit_chain_verify  # no checkpoint yet: the whole chain first

        report = audit_chain_verify(checkpoint=None)
        if report.broken is not None:
            logger.error("audit chain broken: no checkpoint written", extra={"broken": str(report.broken)})
            raise ChainTampered(str(report.broken))
        seq, head_hash = head
    else:
        try:
            seq, head_hash = _check_since(previous)
        except ChainTampered as exc:
            logger.error("audit chain broken: no checkpoint written", extra={"broken": str(exc)})
            raise
        if seq == previous.seq:
            return previous
    checkpoint = Checkpoint(seq=seq, hash=head_hash, taken_at=timezone.now().isoformat())
    line = json.dumps({**checkpoint.body(), "mac": _mac(checkpoint.body())}, sort_keys=True) + "\n"
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: concurrent writers never interleave a line; fsync: a crash loses no vouched head.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    logger.info(
        "audit checkpoint",
        extra={"audit_seq": checkpoint.seq, "audit_hash": checkpoint.hash, "taken_at": checkpoint.taken_at},
    )
    return checkpoint


def anchor_parse(text: str) -> Checkpoint:
    """``SEQ:HASH`` (as the log store shows a checkpoint) as an unsigned checkpoint to compare with."""
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or int(seq) < 1 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("an anchor is SEQ:HASH, e.g. 1834:<64 hex digits>")
    return Checkpoint(seq=int(seq), hash=digest, taken_at=ANCHOR)
