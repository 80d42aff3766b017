"""Writes of the governance domain: observed outcomes (one service for the API, the admin and the command)."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from governance.choices import OutcomeSource
from governance.models import Outcome
from scoring.models import Decision
from scoring.validators import external_id_problem

OUTCOME_FIELDS = (
    "decision_id",
    "application_id",
    "client_id",
    "decision_date",
    "defaulted",
    "observed_on",
    "horizon_months",
)
MAX_HORIZON_MONTHS = 600
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row: its position (0-based), the field, and why (never a value)."""

    index: int
    field: str
    message: str


class OutcomeImportError(ValueError):
    """Some rows were refused: nothing was stored. ``errors`` names each row and field."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.index, e.field))
        super().__init__(f"{len(self.errors)} error(s); nothing was imported.")

    def lines(self, first_row: int = 0, label: str = "row") -> list[str]:
        """One readable line per error (``first_row``: how the caller numbers row 0, e.g. 2 for a CSV line)."""
        return [f"{label} {e.index + first_row}: {e.field}: {e.message}" for e in self.errors]


@dataclass(frozen=True)
class OutcomeImport:
    import_id: uuid.UUID
    outcomes: list[Outcome]

    @property
    def count(self) -> int:
        return len(self.outcomes)


@dataclass
class _Parsed:
    index: int
    decision_id: uuid.UUID | None = None
    application_id: str | None = None
    client_id: str | None = None
    decision_date: date | None = None
    defaulted: bool | None = None
    observed_on: date | None = None
    horizon_months: int | None = None
    decision: Decision | None = None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("Enter a date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("Enter a date as YYYY-MM-DD.") from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("Enter true or false (also 1/0, yes/no).")


def _int(value: Any) -> int:
    """A number of months: an integer, or its ASCII digits in a string.

    ``str.isdigit`` also says yes to "²" or "٣", which ``int`` then refuses (or reads), and
    ``int`` refuses more than 4,300 digits in Python's own words: only ASCII digits are
    read, and only as many as a number in range can have.
    """
    if isinstance(value, bool):
        raise ValueError("Enter a whole number of months.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (text := value.strip()).isascii() and text.isdigit():
        significant = text.lstrip("0") or "0"
        if len(significant) > len(str(MAX_HORIZON_MONTHS)):
            raise ValueError(f"Enter a number of months from 1 to {MAX_HORIZON_MONTHS}.")
        number = int(significant)
    else:
        raise ValueError("Enter a whole number of months.")
    if not 1 <= number <= MAX_HORIZON_MONTHS:
        raise ValueError(f"Enter a number of months from 1 to {MAX_HORIZON_MONTHS}.")
    return number


def _external_id(value: Any, field: str, fail: Callable[[str, str], None]) -> str | None:
    """An application or client id as every other path accepts it (``is_external_id``), or a row error.

    Text only: a JSON number is refused, not turned into its digits (``1001`` is not the
    client ``"1001"`` for ``/score``, nor here; a CSV cell is always text).
    """
    if not isinstance(value, str):
        fail(field, "Not a valid string.")
        return None
    text = value.strip()
    problem = external_id_problem(text)
    if problem is not None:
        fail(field, problem)
        return None
    return text


def _parse(index: int, row: Any, today: date, errors: list[RowError]) -> _Parsed:
    parsed = _Parsed(index)

    def fail(field: str, message: str) -> None:
        errors.append(RowError(index, field, message))

    if not isinstance(row, Mapping):
        fail("row", "Expected an object of outcome fields.")
        return parsed
    for key in row:
        if key not in OUTCOME_FIELDS:
            fail(str(key)[:50], "Unknown field.")
    given = {k: v for k, v in row.items() if k in OUTCOME_FIELDS and not _blank(v)}
    keys = [k for k in ("decision_id", "application_id", "client_id") if k in given]
    if len(keys) != 1:
        fail("decision_id", "Send exactly one of decision_id, application_id, or client_id with decision_date.")
    elif "decision_id" in given:
        try:
            parsed.decision_id = uuid.UUID(str(given["decision_id"]).strip())
        except ValueError:
            fail("decision_id", "Not a decision id (a UUID).")
    elif "application_id" in given:
        parsed.application_id = _external_id(given["application_id"], "application_id", fail)
    else:
        parsed.client_id = _external_id(given["client_id"], "client_id", fail)
        if "decision_date" not in given:
            fail("decision_date", "Required with client_id: the day of the decision.")
    if "decision_date" in given:
        try:
            parsed.decision_date = _date(given["decision_date"])
        except ValueError as exc:
            fail("decision_date", str(exc))
    for name, convert in (("defaulted", _bool), ("observed_on", _date), ("horizon_months", _int)):
        if name not in given:
            fail(name, "This field is required.")
            continue
        try:
            setattr(parsed, name, convert(given[name]))
        except ValueError as exc:
            fail(name, str(exc))
    if parsed.observed_on and parsed.observed_on > today:
        fail("observed_on", "Cannot be in the future.")
    return parsed


def _resolve(rows: list[_Parsed], errors: list[RowError]) -> None:
    """Find each row's decision (in a few queries); unknown and ambiguous references are errors."""
    by_id = {r.decision_id for r in rows if r.decision_id}
    found = {d.id: d for d in Decision.objects.filter(id__in=by_id)} if by_id else {}
    by_application: dict[str, list[Decision]] = defaultdict(list)
    application_ids = {r.application_id for r in rows if r.application_id}
    if application_ids:
        for d in Decision.objects.filter(application__application_id__in=application_ids).select_related("application"):
            if d.application is not None and d.application.application_id:  # always, by the filter
                by_application[d.application.application_id].append(d)
    by_client_day: dict[tuple[str, date], list[Decision]] = defaultdict(list)
    client_ids = {r.client_id for r in rows if r.client_id and r.decision_date}
    if client_ids:
        days = {r.decision_date for r in rows if r.client_id and r.decision_date}
        for d in Decision.objects.filter(client__client_id__in=client_ids, created_at__date__in=days).select_related(
            "client"
        ):
            if d.client is not None:  # always, by the filter
                by_client_day[(d.client.client_id, timezone.localdate(d.created_at))].append(d)
    for r in rows:
        if r.decision_id:
            r.decision = found.get(r.decision_id)
            if r.decision is None:
                errors.append(RowError(r.index, "decision_id", "Unknown decision."))
            continue
        if r.application_id:
            candidates, field, what = by_application.get(r.application_id, []), "application_id", "application"
        elif r.client_id and r.decision_date:
            candidates = by_client_day.get((r.client_id, r.decision_date), [])
            field, what = "client_id", "client on that day"
        else:
            continue
        if not candidates:
            errors.append(RowError(r.index, field, f"No decision for this {what}."))
        elif len(candidates) > 1:
            errors.append(
                RowError(r.index, field, f"{len(candidates)} decisions for this {what}: send decision_id instead.")
            )
        else:
            r.decision = candidates[0]
        if r.decision and r.decision_date and timezone.localdate(r.decision.created_at) != r.decision_date:
            errors.append(RowError(r.index, "decision_date", "The decision was made on another day."))


def _check_consistency(rows: list[_Parsed], errors: list[RowError]) -> None:
    """Duplicates and contradictions, within the rows and against the stored outcomes.

    Two outcomes of one decision contradict each other when they disagree at the same horizon,
    or when a default within some months sits beside "no default" over at least as many.
    """
    ready = [r for r in rows if r.decision and r.defaulted is not None and r.horizon_months]
    stored: dict[Any, list[tuple[int, bool]]] = defaultdict(list)
    for decision_id, horizon, defaulted in Outcome.objects.filter(
        decision_id__in={r.decision.id for r in ready}  # type: ignore[union-attr]
    ).values_list("decision_id", "horizon_months", "defaulted"):
        stored[decision_id].append((horizon, defaulted))
    seen: dict[Any, list[_Parsed]] = defaultdict(list)
    for r in ready:
        decision_id = r.decision.id  # type: ignore[union-attr]
        for horizon, defaulted in stored[decision_id]:
            if horizon == r.horizon_months:
                message = (
                    "Already imported for this decision and horizon."
                    if defaulted == r.defaulted
                    else "Contradicts the stored outcome for this decision and horizon."
                )
                errors.append(RowError(r.index, "defaulted", message))
                break
            if _contradict(r.horizon_months, r.defaulted, horizon, defaulted):  # type: ignore[arg-type]
                errors.append(RowError(r.index, "defaulted", f"Contradicts the stored outcome at {horizon} months."))
                break
        else:
            for other in seen[decision_id]:
                if other.horizon_months == r.horizon_months:
                    word = "Duplicate of" if other.defaulted == r.defaulted else "Contradicts"
                    errors.append(
                        RowError(r.index, "defaulted", f"{word} row {other.index} (same decision and horizon).")
                    )
                    break
                if _contradict(r.horizon_months, r.defaulted, other.horizon_months, other.defaulted):  # type: ignore[arg-type]
                    errors.append(RowError(r.index, "defaulted", f"Contradicts row {other.index} (same decision)."))
                    break
        seen[decision_id].append(r)
        decided_on = timezone.localdate(r.decision.created_at)  # type: ignore[union-attr]
        if r.observed_on and r.observed_on < decided_on:
            errors.append(RowError(r.index, "observed_on", "Before the decision was made."))
        elif r.observed_on and not r.defaulted and r.observed_on < (ends := horizon_end(decided_on, r.horizon_months)):  # type: ignore[arg-type]
            errors.append(
                RowError(
                    r.index,
                    "observed_on",
                    f"No default over {r.horizon_months} months can only be observed once they have passed "
                    f"(on or after {ends.isoformat()}).",
                )
            )


def horizon_end(decided_on: date, months: int) -> date:
    """The day ``months`` calendar months after ``decided_on`` (the 31st of January + 1: the end of February)."""
    return decided_on + relativedelta(months=months)


def _contradict(h1: int, d1: bool, h2: int, d2: bool) -> bool:
    if d1 == d2:
        return False
    bad, good = (h1, h2) if d1 else (h2, h1)
    return good >= bad


def outcomes_import(*, rows: Sequence[Any], source: str, caller: str, actor: Any = None) -> OutcomeImport:
    """Check every row, then store them all in one transaction, or none.

    Each row names its decision by ``decision_id``, by ``application_id`` (the application's
    only decision), or by ``client_id`` and ``decision_date`` (the client's only decision that
    day), with ``defaulted``, ``observed_on`` and ``horizon_months``. Raises
    ``OutcomeImportError`` listing every bad row: unknown or ambiguous references, bad
    values, duplicates and contradictions (within the rows or with stored outcomes).
    """
    if source not in OutcomeSource.values:
        raise ValueError(f"source must be one of {', '.join(OutcomeSource.values)}")
    if not rows:
        raise OutcomeImportError([RowError(0, "items", "No outcome rows.")])
    if len(rows) > settings.OUTCOME_IMPORT_MAX_ROWS:
        raise OutcomeImportError([RowError(0, "items", f"At most {settings.OUTCOME_IMPORT_MAX_ROWS} rows per import.")])
    errors: list[RowError] = []
    today = timezone.localdate()
    parsed = [_parse(i, row, today, errors) for i, row in enumerate(rows)]
    _resolve(parsed, errors)
    import_id = uuid.uuid4()
    with transaction.atomic():
        # The rows of the decisions concerned are locked, so two imports of the same outcome
        # cannot both pass the checks below.
        decision_ids = sorted({r.decision.id for r in parsed if r.decision}, key=str)
        list(Decision.objects.select_for_update().filter(id__in=decision_ids).values_list("id", flat=True))
        _check_consistency(parsed, errors)
        if errors:
            raise OutcomeImportError(errors)
        outcomes = [
            Outcome(
                decision=r.decision,
                defaulted=bool(r.defaulted),
                observed_on=r.observed_on,  # type: ignore[misc]  # set on every row that passed the checks
                horizon_months=r.horizon_months,
                source=source,
                caller=caller[:100],
                import_id=import_id,
            )
            for r in parsed
        ]
        try:
            Outcome.objects.bulk_create(outcomes)
        except IntegrityError as exc:  # pragma: no cover - the lock above prevents it
            raise OutcomeImportError([RowError(0, "items", "Another import stored these outcomes meanwhile.")]) from exc
        audit_record(
            actor=actor if actor is not None else caller,
            action="outcomes.imported",
            details={
                "import_id": str(import_id),
                "source": source,
                "rows": len(outcomes),
                "defaults": sum(o.defaulted for o in outcomes),
            },
        )
    return OutcomeImport(import_id, outcomes)


class OutcomeFileError(ValueError):
    """The file itself cannot be read as outcome CSV."""


def outcome_rows_from_csv(data: bytes) -> list[dict[str, str]]:
    """The rows of an outcome CSV (header line first; columns named as ``OUTCOME_FIELDS``)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OutcomeFileError("The file is not UTF-8 text.") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        raise OutcomeFileError("The file is empty: expected a header line.")
    unknown = [name for name in header if name not in OUTCOME_FIELDS]
    if unknown:
        raise OutcomeFileError(f"Unknown column(s): {', '.join(unknown)}. Expected: {', '.join(OUTCOME_FIELDS)}.")
    rows = []
    for row in reader:
        if None in row:
            raise OutcomeFileError(f"Line {reader.line_num} has more cells than the header.")
        rows.append({k: v for k, v in row.items() if v not in (None, "")})
    return rows
