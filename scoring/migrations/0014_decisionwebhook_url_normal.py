"""Webhook URLs written one way (``creditplatform.webhooks.webhook_url_normal``): scheme and host
lowercased, a default port dropped, so that ``https://Hooks.Example:443/x`` and
``https://hooks.example/x`` are one webhook for the unique constraint of 0013.

Active rows of one caller that become the same URL are deactivated first, keeping the newest
as 0013 does (its secret is the last one the caller was shown); the others stay, inactive
(their deliveries are evidence). Not reversed: the URLs as first spelled are not kept.
"""

from typing import Any

from django.db import migrations

from creditplatform.webhooks import webhook_url_normal


def normalise_urls(apps: Any, schema_editor: Any) -> None:
    DecisionWebhook = apps.get_model("scoring", "DecisionWebhook")
    seen: set[tuple[str, str]] = set()
    stale, renamed = [], []
    for pk, caller, url, active in DecisionWebhook.objects.order_by("-created_at", "-pk").values_list(
        "pk", "caller", "url", "is_active"
    ):
        try:
            normal = webhook_url_normal(url)
        except ValueError:  # not a URL the registration would take: left as it is
            continue
        if len(normal) > 500:  # an empty path written "/" past the column's length: left as it is
            normal = url
        if active:
            if (caller, normal) in seen:
                stale.append(pk)
            seen.add((caller, normal))
        if normal != url:
            renamed.append((pk, normal))
    DecisionWebhook.objects.filter(pk__in=stale).update(is_active=False)
    for pk, normal in renamed:
        DecisionWebhook.objects.filter(pk=pk).update(url=normal)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0013_decisionwebhook_active_url_unique"),
    ]

    operations = [
        migrations.RunPython(normalise_urls, migrations.RunPython.noop),
    ]
