"""Reads of the privacy domain: due requests, the access export's content."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from creditplatform.retention import DataKind
from privacy.erasure import subject_rows
from privacy.models import OPEN_STATUSES, GdprRequest
from privacy.retention_map import tables_about_clients, tables_with_payloads
from scoring.models import Client


def gdpr_requests_due(*, now: datetime | None = None, within_days: int | None = None) -> QuerySet[GdprRequest]:
    """Open requests due within ``GDPR_DUE_SOON_DAYS`` (or already overdue), soonest first."""
    now = now or timezone.now()
    days = settings.GDPR_DUE_SOON_DAYS if within_days is None else within_days
    return (
        GdprRequest.objects.filter(status__in=OPEN_STATUSES, due_at__lte=now + timedelta(days=days))
        .select_related("recorded_by", "approved_by")
        .order_by("due_at")
    )


def client_export_document(*, client: Client, request: GdprRequest | None = None) -> dict[str, Any]:
    """Every row the retention map links to ``client``, table by table, with why and how long it is kept.

    Columns about staff (who handled what) are left out: they are not the person's data.
    """
    tables = []
    for table in reversed(tables_about_clients()):  # parents first: the client, then their records
        spec = table.spec
        if not spec.exported:
            continue
        columns = [name for name, column in spec.columns.items() if column.kind is not DataKind.STAFF]
        rows = list(subject_rows(table, client).order_by("pk").values(*columns))
        if not rows:
            continue
        retention = None
        if spec.retention is not None:
            days = table.retention_days()
            retention = f"{days} days after {spec.retention.date_field}: {spec.retention.basis}"
        tables.append(
            {
                "table": table.label,
                "what": spec.about,
                "why_kept": spec.basis or "to provide the service the person asked for",
                "retention": retention,
                "rows": rows,
            }
        )
    for table in tables_with_payloads():  # the person's rows inside stored payloads (batch files being scored)
        rows = table.payload.export(client) if table.spec.exported else []
        if rows:
            tables.append(
                {
                    "table": table.label,
                    "what": table.spec.about,
                    "why_kept": table.spec.basis,
                    "retention": None,
                    "rows": rows,
                }
            )
    return {
        "export": "GDPR access and portability export (Art. 15 and 20)",
        "generated_at": timezone.now(),
        "request": request.pk if request is not None else None,
        "subject": {"client_id": client.client_id},
        "recipients": "None outside the bank: the platform shares no personal data with third parties.",
        "source": "Provided by the person, by the bank's systems calling the platform's API, or decided by it.",
        "automated_decisions": (
            "Credit and fraud decisions are made by models and rules; each decision row lists its model version "
            "and the reasons (features that weighed most). The person may ask for a human review."
        ),
        "tables": tables,
    }
