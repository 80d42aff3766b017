"""The vocabulary of the retention map: what a column holds and what erasure does to it.

Each app declares its tables in its own ``privacy.py`` as ``RETENTION_MAP = [Table(...)]``
(the privacy app declares Django's and third-party apps' tables). The privacy app collects
them (``privacy.retention_map``), checks that every field of every installed model is
covered, prints the map in docs/privacy.md, and drives erasure, the access export and the
nightly retention job from it. This module imports no model, so any app may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.db.models import Q


class DataKind(Enum):
    """What a column holds, as far as the person is concerned."""

    IDENTITY = "identity"  # names, birth date
    CONTACT = "contact"  # e-mail, phone, postal address
    IDENTIFIER = "identifier"  # an id other systems link to the person (client, transaction, device, account)
    FINANCIAL = "financial"  # amounts, income, declared facts
    DECISION = "decision"  # scores, outcomes, reasons, model inputs
    FREE_TEXT = "free text"  # typed by staff: may name the person
    LINK = "link"  # a foreign key between the person's records
    STAFF = "staff"  # about staff or service accounts, not clients
    TECHNICAL = "technical"  # no personal data (timestamps, statuses, configuration)


class Erasure(Enum):
    """What erasing the person does to a column of the rows the platform keeps."""

    KEEP = "kept"
    CLEAR = "emptied"
    TOKEN = "random token"  # unique per row, no mapping kept
    TOKEN_PER_VALUE = "random token per value"  # equal values get the same token within one erasure, no mapping kept
    STRIP_IDENTIFIERS = "identifier keys removed"  # JSON snapshots
    UNLINK = "unlinked (NULL)"
    REDACT = "replaced by [erased]"
    NOW = "set to the erasure time"


class Rows(Enum):
    """What erasing the person does to their rows of a table."""

    PSEUDONYMISE = "kept pseudonymised"  # within the retention period; deleted past it
    KEEP_WHILE_REFERENCED = "kept pseudonymised while a kept record needs it, else deleted"
    DELETE = "deleted"
    GENERIC_REFERENCE = "rows naming the person's records (content type + id) scrubbed"
    IN_PAYLOAD = "the person's rows inside stored payloads blanked"  # see Table.payload
    NOT_ABOUT_CLIENTS = "not about clients: untouched"


@dataclass(frozen=True)
class Column:
    kind: DataKind
    erasure: Erasure = Erasure.KEEP
    note: str = ""


@dataclass(frozen=True)
class Retention:
    """How long rows are kept: ``setting`` days (or ``days``) after ``date_field``.

    ``keep_if``: rows the retention job never deletes (e.g. an open fraud alert). Rows
    still referenced by another row are never deleted either (their turn comes after).
    ``sooner``: a shorter period for some rows, those its own ``keep_if`` does not keep (a
    dead-lettered batch chunk's never-decided rows); a row goes when either period has passed.
    """

    date_field: str
    basis: str
    setting: str | None = None
    days: int | None = None
    keep_if: Q | None = None
    sooner: Retention | None = None

    def period_days(self) -> int | None:
        """The period in days: the setting's value, else ``days``."""
        return int(getattr(settings, self.setting)) if self.setting else self.days

    def past(self, now: datetime) -> Q | None:
        """The rows past this period (``sooner``'s included) and not kept; None: no period."""
        days = self.period_days()
        if days is None:
            return None
        past = Q(**{f"{self.date_field}__lt": now - timedelta(days=days)})
        if self.keep_if is not None:
            past &= ~self.keep_if
        sooner = self.sooner.past(now) if self.sooner is not None else None
        return past if sooner is None else past | sooner


@dataclass(frozen=True)
class Table:
    """One model: what it holds about clients and what erasure and retention do to it.

    ``subject`` is the ORM path from the model to ``scoring.Client`` (``""`` for the client
    itself, ``None`` when rows are not linked to a client). ``basis`` says why rows are kept.
    """

    model: str
    about: str
    rows: Rows
    columns: dict[str, Column]
    subject: str | None = None
    retention: Retention | None = None
    basis: str = ""
    generic: tuple[str, str] | None = None  # (content type field, object id field) for GENERIC_REFERENCE
    exported: bool = True  # part of the access export (when linked to the client)
    limits_erasure: bool = True  # its retention is a legal duty shown as a hold on erasure requests
    # Rows.IN_PAYLOAD: dotted path of an object finding the person inside the table's stored
    # payloads (no foreign key leads there): ``holds(client)`` -> reasons that defer the
    # erasure, ``export(client)`` -> the person's rows for the access export,
    # ``erase(client)`` -> how many of the person's rows were blanked (see PayloadRows).
    payload: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


# Keys removed from kept JSON snapshots (decision inputs), whatever the model's schema is.
IDENTIFIER_KEYS = (
    "client_id",
    "application_id",
    "transaction_id",
    "first_name",
    "last_name",
    "name",
    "email",
    "phone",
    "address",
    "birth_date",
    "beneficiary",
    "device_id",
    "iban",
)


class PayloadRows:
    """The interface ``Table.payload`` names (the erasure, the holds and the export call it)."""

    def holds(self, client: object) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def export(self, client: object) -> list[dict[str, object]]:  # pragma: no cover - interface
        raise NotImplementedError

    def erase(self, client: object) -> int:  # pragma: no cover - interface
        raise NotImplementedError


def technical(*names: str, note: str = "") -> dict[str, Column]:
    """Columns holding no personal data, kept as they are."""
    return {name: Column(DataKind.TECHNICAL, Erasure.KEEP, note) for name in names}


def staff(*names: str, note: str = "") -> dict[str, Column]:
    """Columns about staff or service accounts (not clients): erasure of a client leaves them."""
    return {name: Column(DataKind.STAFF, Erasure.KEEP, note) for name in names}
