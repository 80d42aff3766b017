# Transaction ids belong to the caller that submitted them; id patterns anchored with \A...\Z.

import django.core.validators
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def submitted_by_from_checks(apps, schema_editor):
    """Existing transactions belong to the caller recorded on their fraud check."""
    Transaction = apps.get_model("fraud", "Transaction")
    FraudCheck = apps.get_model("fraud", "FraudCheck")
    caller = FraudCheck.objects.filter(transaction=OuterRef("pk")).values("caller")[:1]
    Transaction.objects.filter(fraud_check__isnull=False).update(submitted_by=Subquery(caller))


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0004_transaction_type_paiement"),
        ("scoring", "0005_external_id_validators"),
    ]

    operations = [
        migrations.AddField(
            model_name="transaction",
            name="submitted_by",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Caller that submitted it (apikey:<prefix>, oidc:<hash>, user:<id>); empty for imported history.",
                max_length=100,
            ),
        ),
        migrations.RunPython(submitted_by_from_checks, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="fraudrule",
            name="name",
            field=models.CharField(
                max_length=80,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator(
                        "\\A[a-z][a-z0-9_]{1,79}\\Z",
                        "Use 2-80 lower-case letters, digits or '_', starting with a letter (e.g. high_amount).",
                    )
                ],
            ),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="transaction_id",
            field=models.CharField(db_index=True, max_length=64),
        ),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.UniqueConstraint(
                fields=("submitted_by", "transaction_id"), name="transaction_id_unique_per_caller"
            ),
        ),
    ]
