"""Infrastructure receivers of the fraud app."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from fraud.config import configs
from fraud.models import FraudRule, FraudRuleVersion, FraudSettings


@receiver(post_save, sender=FraudRule, dispatch_uid="fraud.rule_saved")
@receiver(post_save, sender=FraudRuleVersion, dispatch_uid="fraud.rule_version_saved")
@receiver(post_save, sender=FraudSettings, dispatch_uid="fraud.settings_saved")
@receiver(post_delete, sender=FraudRule, dispatch_uid="fraud.rule_deleted")
def config_changed(sender: Any, **kwargs: Any) -> None:
    """This process re-reads rules and thresholds at its next decision (others within FRAUD_CONFIG_REFRESH_SECONDS)."""
    transaction.on_commit(configs.invalidate)
