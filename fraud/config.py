"""The active rules and the thresholds, loaded once per process and refreshed without a restart.

Like the model cache (``scoring.ml.predictor``): ``fraud_config()`` returns an immutable
``FraudConfig``. At most every ``FRAUD_CONFIG_REFRESH_SECONDS`` it asks the database for a
stamp (the newest rule version id and the number of versions, which moves even when a
version commits after a later one, and the thresholds row: two small queries); only when the
stamp moved are the active rule versions read again, and only versions not seen before are
compiled (a compiled rule is kept per version, keyed by its full content so a reused id can
never serve a stale condition), and the set they form is recorded once as a ``FraudRuleSet``
that every check made with it points at. The new configuration is complete before it
replaces the old one, so a request never sees half a rule set. The process that changes a
rule or the thresholds reloads at once (``invalidate`` on commit).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Max

from creditplatform.hot_settings import hot_settings
from fraud.decision import Thresholds
from fraud.features import Locale
from fraud.rules import CompiledRule, RuleError, RuleSet, RuleSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FraudConfig:
    """What a fraud decision needs besides the model: the rules, the thresholds, the locale."""

    rules: RuleSet
    review_threshold: float | None  # None: follow the model's threshold
    block_threshold: float
    locale: Locale
    stamp: tuple[Any, ...] = ()
    # The stored ``FraudRuleSet`` of ``rules`` (checks point at it); ``durable`` is False while
    # it was recorded inside a transaction that may still roll back (see ``ConfigCache.get``).
    rule_set: Any = None
    durable: bool = True

    def thresholds(self, model_threshold: float | None) -> Thresholds:
        """The bands in force for a decision made with a model of ``model_threshold`` (or none)."""
        review = self.review_threshold
        if review is None:
            review = model_threshold if model_threshold else settings.FRAUD_DEFAULT_REVIEW_THRESHOLD
        # A review band above the block band would never be used: blocking starts first.
        return Thresholds(review=min(max(review, 1e-6), self.block_threshold), block=self.block_threshold)


def spec_of(version: Any) -> RuleSpec:
    """The engine's view of a ``FraudRuleVersion`` row."""
    return RuleSpec(
        name=version.name,
        condition=version.condition,
        action=version.action,
        weight=float(version.weight),
        version=version.version,
        order=version.order,
        reason=version.reason,
        rule_id=version.rule_id,
        version_id=version.pk,
    )


class ConfigCache:
    """Thread-safe (gunicorn threads, Celery threads)."""

    def __init__(self) -> None:
        self._config: FraudConfig | None = None
        self._checked_at = float("-inf")
        self._compiled: dict[RuleSpec, CompiledRule] = {}
        self._broken: set[RuleSpec] = set()
        self._lock = threading.Lock()

    def get(self) -> FraudConfig:
        config = self._config
        if config is not None and time.monotonic() - self._checked_at < hot_settings.FRAUD_CONFIG_REFRESH_SECONDS:
            return config if config.durable else self._confirmed(config)
        # While one thread refreshes, the others keep the current configuration.
        if not self._lock.acquire(blocking=config is None):
            assert config is not None  # only a thread that has one does not wait
            return config if config.durable else self._confirmed(config)
        try:
            stamp = self._stamp()
            if self._config is None or stamp != self._config.stamp:
                self._config = self._load(stamp)
            self._checked_at = time.monotonic()
            config = self._config
        finally:
            self._lock.release()
        return config if config.durable else self._confirmed(config)

    def _confirmed(self, config: FraudConfig) -> FraudConfig:
        """``config`` with its rule set recorded again: the row recorded inside a transaction
        (an admin view, a test) is gone if that transaction rolled back, and checks must not
        point at it. The same row when it committed; durable once recorded outside one."""
        from fraud.services import fraud_rule_set_record

        rule_set = fraud_rule_set_record(refs=config.rules.refs)
        confirmed = replace(config, rule_set=rule_set, durable=not connection.in_atomic_block)
        if confirmed.durable:
            self._config = confirmed
        return confirmed

    def invalidate(self) -> None:
        self._checked_at = float("-inf")

    def reset(self) -> None:
        with self._lock:
            self._config, self._checked_at = None, float("-inf")
            self._compiled.clear()
            self._broken.clear()

    @staticmethod
    def _stamp() -> tuple[Any, ...]:
        from fraud.models import FraudRuleVersion, FraudSettings

        # The newest id alone misses a version that commits after a later one (two rules saved at
        # once: the smaller id may commit second, below a maximum already seen). Versions are
        # never deleted (a trigger, migration 0012), so their count moves with every commit.
        versions = FraudRuleVersion.objects.aggregate(newest=Max("id"), count=Count("id"))
        row = FraudSettings.objects.values_list("updated_at", "review_threshold", "block_threshold").first()
        return (
            versions["newest"],
            versions["count"],
            row,
            settings.FRAUD_TIME_ZONE,
            settings.FRAUD_HOME_COUNTRY,
            settings.FRAUD_HOME_CURRENCY,
        )

    def _load(self, stamp: tuple[Any, ...]) -> FraudConfig:
        from fraud.models import FraudRuleVersion
        from fraud.services import fraud_rule_set_record

        versions = FraudRuleVersion.objects.filter(rule__is_active=True, version=F("rule__version"))
        compiled: dict[RuleSpec, CompiledRule] = {}
        for version in versions:
            spec = spec_of(version)
            rule = self._compiled.get(spec)
            if rule is None and spec not in self._broken:
                try:
                    rule = CompiledRule.build(spec)
                except RuleError as exc:
                    # Saved rules were checked; this only happens if the engine changed under them.
                    logger.error("fraud rule %s v%s not compiled: %s", version.name, version.version, exc)
                    self._broken.add(spec)
                    continue
            if rule is not None:
                compiled[spec] = rule
        self._compiled = compiled  # only the versions in use stay compiled
        row = stamp[2]
        review, block = (row[1], row[2]) if row else (None, 0.8)
        locale = Locale.named(settings.FRAUD_TIME_ZONE, settings.FRAUD_HOME_COUNTRY, settings.FRAUD_HOME_CURRENCY)
        rules = RuleSet(compiled.values())
        rule_set = fraud_rule_set_record(refs=rules.refs)
        logger.info("fraud configuration loaded: %d active rules", len(compiled))
        return FraudConfig(
            rules, review, float(block), locale, stamp, rule_set=rule_set, durable=not connection.in_atomic_block
        )


configs = ConfigCache()


def fraud_config() -> FraudConfig:
    """The current rules, thresholds and locale of this process."""
    return configs.get()


def reset_fraud_config() -> None:
    configs.reset()
