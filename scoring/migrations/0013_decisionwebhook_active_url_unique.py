"""One active webhook per caller and URL (a second posted every event twice, each signed differently).

Duplicates registered before are deactivated first, keeping each caller's newest for the URL:
its secret is the last one the caller was shown, so the one its receiver most likely checks.
The deactivated rows stay (their deliveries are evidence); an admin may swap them back.
"""

from typing import Any

from django.db import migrations, models


def deactivate_duplicates(apps: Any, schema_editor: Any) -> None:
    DecisionWebhook = apps.get_model("scoring", "DecisionWebhook")
    seen: set[tuple[str, str]] = set()
    stale = []
    for pk, caller, url in (
        DecisionWebhook.objects.filter(is_active=True).order_by("-created_at", "-pk").values_list("pk", "caller", "url")
    ):
        if (caller, url) in seen:
            stale.append(pk)
        seen.add((caller, url))
    DecisionWebhook.objects.filter(pk__in=stale).update(is_active=False)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0012_decision_refer_rule"),
    ]

    operations = [
        migrations.RunPython(deactivate_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="decisionwebhook",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_active", True)),
                fields=("caller", "url"),
                name="decisionwebhook_active_url_uniq",
                violation_error_message="This caller already has an active webhook for this URL.",
            ),
        ),
    ]
