"""A person inside the call log: request ids that repeat one of the person's ids (the retention map's handler).

A call-log row (``monitoring.ApiCall``) has no client id and no link to a client: the route
is stored as a pattern, the body never. Its ``request_id`` is the caller's ``X-Request-ID``
when that is a token (``monitoring.middleware.request_id_of``), and a caller may use one of
its own references as its correlation id: a ``/fraude`` transaction id (the benchmark does),
an ``Idempotency-Key``, an application or client id. Such a row then names the person by a
reference the erasure replaces everywhere else. ``monitoring.privacy`` names this handler for
``monitoring.ApiCall`` (``Rows.IN_PAYLOAD``) and the privacy app calls it:

- ``erase``: each call-log row whose request id is one of the person's ids (external id,
  applications' ids, transaction ids, decisions' idempotency keys) gets a generated one
  (``erased-<row id>``: nothing maps back); route, status, latency and caller are kept;
- ``export``: those rows, for the access export;
- ``holds``: none (a call-log row never defers an erasure).

Read before the tables below it are pseudonymised (the erasure runs payload handlers first).
A request id chosen freely (not one of those ids) cannot be tied to the person and is left;
the rows go after ``API_CALL_LOG_RETENTION_DAYS`` like every other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.db.models import CharField, QuerySet, Value
from django.db.models.functions import Cast, Concat

from creditplatform.retention import PayloadRows
from monitoring.middleware import accepted_request_id
from monitoring.models import ApiCall

ERASED_PREFIX = "erased-"
_CHUNK = 1000  # ids per look-up: each one an indexed IN list on request_id


def _usable(value: Any) -> bool:
    return bool(value) and accepted_request_id(value) and not str(value).startswith(ERASED_PREFIX)


def request_ids_of(client: Any) -> tuple[set[str], dict[str, set[str]]]:
    """The person's ids a caller may have sent as its X-Request-ID (only tokens were ever kept):
    the ids that name the person whoever sends them (the external client id, application ids),
    and, per caller, the ids that belong to their caller (transaction ids, Idempotency-Keys:
    another caller may use the same reference for another client, and its calls are not the
    person's)."""
    from scoring.models import CreditApplication, Decision

    ids = {client.client_id}
    ids.update(CreditApplication.objects.filter(client=client).values_list("application_id", flat=True))
    per_caller: dict[str, set[str]] = {}
    pairs = list(
        Decision.objects.filter(client=client, idempotency_key__isnull=False).values_list("caller", "idempotency_key")
    )
    if apps.is_installed("fraud"):
        from fraud.models import Transaction

        pairs += list(Transaction.objects.filter(client=client).values_list("submitted_by", "transaction_id"))
    for caller, value in pairs:
        if value is not None and _usable(value):
            if caller:
                per_caller.setdefault(caller, set()).add(value)
            else:  # imported history: no caller it belongs to, so on every call
                ids.add(value)
    return {i for i in ids if i is not None and _usable(i)}, per_caller


def _rows(ids: tuple[set[str], dict[str, set[str]]]) -> Iterator[QuerySet[ApiCall]]:
    anyone, per_caller = ids
    for caller, values in [(None, anyone), *sorted(per_caller.items())]:
        ordered = sorted(values)
        for start in range(0, len(ordered), _CHUNK):
            rows = ApiCall.objects.filter(request_id__in=ordered[start : start + _CHUNK])
            yield rows if caller is None else rows.filter(caller=caller)


class CallLogRequestIds(PayloadRows):
    """``monitoring.ApiCall``'s handler in the retention map (module docstring)."""

    def holds(self, client: Any) -> list[str]:
        return []

    def export(self, client: Any) -> list[dict[str, Any]]:
        fields = ("request_id", "method", "endpoint", "status_code", "created_at")
        return [
            {**row, "created_at": row["created_at"].isoformat()}
            for rows in _rows(request_ids_of(client))
            for row in rows.order_by("created_at", "pk").values(*fields)
        ]

    def erase(self, client: Any) -> int:
        generated = Concat(Value(ERASED_PREFIX), Cast("pk", CharField()), output_field=CharField())
        return sum(rows.update(request_id=generated) for rows in _rows(request_ids_of(client)))


__all__ = ["CallLogRequestIds", "request_ids_of"]
