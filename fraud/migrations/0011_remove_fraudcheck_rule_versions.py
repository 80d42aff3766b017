"""The per-check list of rule versions, moved to ``FraudRuleSet`` by 0010."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0010_fraud_rule_sets"),
    ]

    operations = [
        migrations.RemoveField(model_name="fraudcheck", name="rule_versions"),
    ]
