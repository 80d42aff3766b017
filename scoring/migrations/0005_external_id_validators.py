# External ids are validated on the models (anchored with \A...\Z).

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0004_default_credit_aliases"),
    ]

    operations = [
        migrations.AlterField(
            model_name="client",
            name="client_id",
            field=models.CharField(
                help_text="External id, e.g. C1001.",
                max_length=64,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator(
                        "\\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\\Z",
                        "Use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit.",
                    )
                ],
            ),
        ),
        migrations.AlterField(
            model_name="creditapplication",
            name="application_id",
            field=models.CharField(
                blank=True,
                help_text="External id, if the caller has one.",
                max_length=64,
                null=True,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator(
                        "\\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\\Z",
                        "Use 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit.",
                    )
                ],
            ),
        ),
    ]
