"""Reads of the audit trail: the chain check."""

from __future__ import annotations

from dataclasses import dataclass

from audit.models import GENESIS_HASH, AuditEvent


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

    @property
    def ok(self) -> bool:
        return self.broken is None


def audit_chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain in order: each event's hash matches its content and the previous hash.

    Reports the first broken link: an edited row (its hash no longer matches), a removed
    row (a gap in ``seq``, or a ``prev_hash`` naming another event) or a re-hashed row
    (its successor still names the old hash).
    """
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        checked += 1
        if event.seq != expected_seq:
            return ChainReport(checked, BrokenLink(expected_seq, f"missing (the next event is #{event.seq})"))
        if event.prev_hash != prev_hash:
            return ChainReport(checked, BrokenLink(event.seq, "does not follow the previous event's hash"))
        if event.hash != event.expected_hash():
            return ChainReport(checked, BrokenLink(event.seq, "content does not match its hash (changed)"))
        expected_seq, prev_hash = event.seq + 1, event.hash
    return ChainReport(checked, None)
