"""Reads of the audit trail: the chain check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from audit.checkpoints import Checkpoint, checkpoint_latest
from audit.models import GENESIS_HASH, AuditEvent

FROM_FILE = object()  # the default checkpoint: the newest one of AUDIT_CHECKPOINT_FILE


@dataclass(frozen=True)
class BrokenLink:
    """The first event whose chain does not hold, and why."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"event #{self.seq}: {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken: BrokenLink | None
    checkpoint: Checkpoint | None = None  # what the head was compared with; None: a removed tail goes unseen

    @property
    def ok(self) -> bool:
        return self.broken is None


def audit_chain_verify(*, chunk_size: int = 2000, checkpoint: Checkpoint | None | object = FROM_FILE) -> ChainReport:
    """Walk the chain in order: each event's hash matches its content and the previous hash.

    Reports the first broken link: an edited row (its hash no longer matches), a removed
    row (a gap in ``seq``, or a ``prev_hash`` naming another event) or a re-hashed row
    (its successor still names the old hash). Then the head against the checkpoint (by
    default the newest of ``AUDIT_CHECKPOINT_FILE``, kept outside the database): the event it
    names must be there with its hash, so removing the newest events is seen too. Raises
    ``audit.checkpoints.CheckpointError`` when the checkpoint file cannot be trusted.
    """
    anchor = checkpoint_latest() if checkpoint is FROM_FILE else cast("Checkpoint | None", checkpoint)
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        checked += 1
        if event.seq != expected_seq:
            return ChainReport(checked, BrokenLink(expected_seq, f"missing (the next event is #{event.seq})"), anchor)
        if event.prev_hash != prev_hash:
            return ChainReport(checked, BrokenLink(event.seq, "does not follow the previous event's hash"), anchor)
        if event.hash != event.expected_hash():
            return ChainReport(checked, BrokenLink(event.seq, "content does not match its hash (changed)"), anchor)
        if anchor is not None and event.seq == anchor.seq and event.hash != anchor.hash:
            return ChainReport(checked, BrokenLink(event.seq, f"differs from {anchor} (replaced)"), anchor)
        expected_seq, prev_hash = event.seq + 1, event.hash
    if anchor is not None and checked < anchor.seq:
        reason = f"missing: {anchor} vouched for {anchor.seq} events (the newest were removed)"
        return ChainReport(checked, BrokenLink(checked + 1, reason), anchor)
    return ChainReport(checked, None, anchor)
