"""The default fraud rule set (version 1 of each rule) and the thresholds row.

The conditions are plain text here on purpose: a migration must not depend on code that
changes later. ``tests/fraud/test_rules.py`` compiles each of them with the engine and
checks that it fires and does not fire where it should.
"""

from django.db import migrations

DEFAULT_RULES = [
    # name, condition, action, weight, order, reason, description
    (
        "extreme_amount",
        "amount >= 100000",
        "block",
        0.5,
        10,
        "Amount {amount} is above the 100000 limit for a single payment.",
        "Single payments of 100,000 or more are never executed without a call to the client.",
    ),
    (
        "burst_10m",
        "count_10m >= 6",
        "review",
        0.4,
        20,
        "{count_10m} transactions in 10 minutes.",
        "A burst: the 6th transaction (or more) of the same client within 10 minutes.",
    ),
    (
        "high_amount",
        "amount >= 10000",
        "review",
        0.15,
        30,
        "Amount {amount} is 10000 or more.",
        "High amounts are reviewed before they leave.",
    ),
    (
        "new_beneficiary_high_amount",
        "new_beneficiary and amount >= 3000",
        "review",
        0.25,
        40,
        "Amount {amount} to a beneficiary this client has not paid in 90 days.",
        "Account take-over pattern: a large payment to someone never paid before.",
    ),
    (
        "amount_far_above_usual",
        "has_usual_amount and amount_vs_usual >= 5 and amount >= 500",
        "flag",
        0.2,
        50,
        "Amount {amount} is {amount_vs_usual} times the client's usual {usual_amount}.",
        "At least five times the client's mean amount of the last 30 days (clients with 3+ transactions).",
    ),
    (
        "night_foreign_transfer",
        'type == "virement" and is_night and is_foreign',
        "review",
        0.3,
        60,
        "Transfer abroad ({country}) at {hour}h, local time.",
        "Transfers to or from abroad between midnight and 6 am, when the client rarely acts.",
    ),
    (
        "card_testing",
        'type == "carte" and count_1h >= 5 and amount <= 5',
        "flag",
        0.3,
        70,
        "{count_1h} card payments in an hour, this one of {amount}.",
        "Card testing: a stolen card tried with many tiny payments before the big one.",
    ),
    (
        "risky_merchant_abroad",
        "mcc_risky and is_foreign",
        "flag",
        0.1,
        80,
        "Payment abroad ({country}) at a risky merchant category ({mcc_group}).",
        "Gambling, quasi-cash, money transfer, digital goods or jewellery merchants abroad.",
    ),
]


def create_defaults(apps, schema_editor):  # type: ignore[no-untyped-def]
    FraudRule = apps.get_model("fraud", "FraudRule")
    FraudRuleVersion = apps.get_model("fraud", "FraudRuleVersion")
    FraudSettings = apps.get_model("fraud", "FraudSettings")
    FraudSettings.objects.get_or_create(id=1, defaults={"review_threshold": None, "block_threshold": 0.8})
    for name, condition, action, weight, order, reason, description in DEFAULT_RULES:
        if FraudRule.objects.filter(name=name).exists():
            continue
        fields = dict(
            name=name,
            condition=condition,
            action=action,
            weight=weight,
            order=order,
            reason=reason,
            description=description,
            is_active=True,
        )
        rule = FraudRule.objects.create(version=1, **fields)
        FraudRuleVersion.objects.create(rule=rule, version=1, note="Default rule set", **fields)


def remove_defaults(apps, schema_editor):  # type: ignore[no-untyped-def]
    FraudRule = apps.get_model("fraud", "FraudRule")
    FraudRuleVersion = apps.get_model("fraud", "FraudRuleVersion")
    names = [rule[0] for rule in DEFAULT_RULES]
    FraudRuleVersion.objects.filter(rule__name__in=names).delete()
    FraudRule.objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [("fraud", "0002_rules_alerts_settings")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
