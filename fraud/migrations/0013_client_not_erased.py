"""PostgreSQL refuses a transaction naming an erased client (the function and its reasons:
scoring 0022)."""

from importlib import import_module

from django.db import migrations

client_not_erased = import_module("scoring.migrations.0022_client_not_erased")
CREATE, DROP = client_not_erased.trigger("fraud_transaction")


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0012_rule_versions_and_sets_immutable"),
        ("scoring", "0022_client_not_erased"),
    ]

    operations = [
        migrations.RunPython(client_not_erased.on_postgresql(CREATE), client_not_erased.on_postgresql(DROP)),
    ]
