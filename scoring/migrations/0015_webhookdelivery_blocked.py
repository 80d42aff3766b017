"""A delivery the SSRF guard refused (the target is an internal address) gets its own status,
``blocked`` ("Refused: target address not allowed"): it was never sent nor retried, where
``failed`` reads as "failed after the retries".

Deliveries recorded ``failed`` by that refusal before are moved to ``blocked``: their last
outcome is ``not delivered: <why the address is refused>``, where a failure worth retrying
reads ``not delivered: <ExceptionClass>``, ``not delivered: HTTP <5xx>`` or ``not delivered:
<host> does not resolve``. Reversed, they go back to ``failed``.
"""

import re
from typing import Any

from django.db import migrations, models

PREFIX = "not delivered: "
RETRYABLE = re.compile(r"(HTTP \d+|\w+|.* does not resolve)")


def refusals_blocked(apps: Any, schema_editor: Any) -> None:
    WebhookDelivery = apps.get_model("scoring", "WebhookDelivery")
    failed = WebhookDelivery.objects.filter(status="failed", last_outcome__startswith=PREFIX)
    blocked = [
        pk
        for pk, outcome in failed.values_list("pk", "last_outcome")
        if not RETRYABLE.fullmatch(outcome.removeprefix(PREFIX))
    ]
    WebhookDelivery.objects.filter(pk__in=blocked).update(status="blocked")


def blocked_failed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("scoring", "WebhookDelivery").objects.filter(status="blocked").update(status="failed")


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0014_decisionwebhook_url_normal"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookdelivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending (retrying)"),
                    ("delivered", "Delivered"),
                    ("refused", "Refused by the receiver (4xx)"),
                    ("failed", "Failed after the retries"),
                    ("blocked", "Refused: target address not allowed"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.RunPython(refusals_blocked, blocked_failed),
    ]
