"""Checks point at the rule set they evaluated instead of each carrying its list.

Every check stored the full ``[{id, rule, version}]`` list of the active rule versions (2.7 KB
of JSON for 50 rules, the same for every check until a rule changes). The list now lives once
in ``FraudRuleSet`` (content-addressed by its SHA-256), each check points at it, and keeps in
``rule_errors`` only the versions that failed on it. ``FraudCheck.rule_versions`` (a property)
still gives the same list, so the API and the evidence read as before.
"""

import hashlib

import django.db.models.deletion
import orjson
from django.db import migrations, models


def _digest(refs):
    # As fraud.services.rule_set_digest (a test keeps them equal): SHA-256 of the canonical JSON.
    return hashlib.sha256(orjson.dumps(refs, option=orjson.OPT_SORT_KEYS)).hexdigest()


def split_rule_versions(apps, schema_editor):
    FraudCheck = apps.get_model("fraud", "FraudCheck")
    FraudRuleSet = apps.get_model("fraud", "FraudRuleSet")
    checks = FraudCheck.objects.using(schema_editor.connection.alias)
    rule_sets = FraudRuleSet.objects.using(schema_editor.connection.alias)
    # One update per distinct list (a list per rule change, plus one per combination of failures).
    for versions in list(checks.order_by().values_list("rule_versions", flat=True).distinct()):
        versions = versions or []
        refs = [{key: value for key, value in ref.items() if key != "error"} for ref in versions]
        errors = [{"rule": r["rule"], "version": r["version"], "error": r["error"]} for r in versions if "error" in r]
        rule_set, _ = rule_sets.get_or_create(digest=_digest(refs), defaults={"rule_versions": refs})
        checks.filter(rule_versions=versions).update(rule_set=rule_set, rule_errors=errors)


def join_rule_versions(apps, schema_editor):
    FraudCheck = apps.get_model("fraud", "FraudCheck")
    FraudRuleSet = apps.get_model("fraud", "FraudRuleSet")
    checks = FraudCheck.objects.using(schema_editor.connection.alias)
    for rule_set in FraudRuleSet.objects.using(schema_editor.connection.alias).iterator():
        checks.filter(rule_set=rule_set, rule_errors=[]).update(rule_versions=rule_set.rule_versions)
    for check in checks.exclude(rule_errors=[]).select_related("rule_set").iterator():
        failed = {(e["rule"], e["version"]): e["error"] for e in check.rule_errors}
        refs = check.rule_set.rule_versions if check.rule_set is not None else []
        check.rule_versions = [
            {**ref, "error": failed[(ref["rule"], ref["version"])]} if (ref["rule"], ref["version"]) in failed else ref
            for ref in refs
        ]
        check.save(update_fields=["rule_versions"])


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0009_transaction_seen_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="FraudRuleSet",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                (
                    "rule_versions",
                    models.JSONField(default=list, help_text="[{id, rule, version}] in evaluation order."),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.AddField(
            model_name="fraudcheck",
            name="rule_set",
            field=models.ForeignKey(
                blank=True,
                help_text="The rule versions evaluated (empty only for a check recorded outside the rules engine).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="fraud.fraudruleset",
            ),
        ),
        migrations.AddField(
            model_name="fraudcheck",
            name="rule_errors",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="[{rule, version, error}] of the rule versions that failed on this check.",
            ),
        ),
        migrations.RunPython(split_rule_versions, join_rule_versions),
        # The column goes in 0011: PostgreSQL refuses to alter a table with pending (deferred)
        # foreign-key checks, which the updates above leave until the transaction commits.
    ]
