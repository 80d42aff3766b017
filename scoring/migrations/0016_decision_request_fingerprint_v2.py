"""``Decision.request_hash`` holds ``v2:`` and the SHA-256 of the validated applicant (67
characters): the fingerprint of ``scoring.services.score_request_fingerprint``. Rows stored
before keep their 64 hex digits (the SHA-256 of the body as sent), which a replay still
compares with the body it receives. Widening a varchar rewrites nothing on PostgreSQL.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0015_webhookdelivery_blocked"),
    ]

    operations = [
        migrations.AlterField(
            model_name="decision",
            name="request_hash",
            field=models.CharField(
                blank=True,
                help_text="Fingerprint of the applicant sent with an Idempotency-Key: 'v2:' and the SHA-256 of the "
                "validated input (before v2: 64 hex digits, the SHA-256 of the body as sent).",
                max_length=80,
            ),
        ),
    ]
