"""Writes of the fraud domain: <entity>_<action>(*, ...), one transaction each."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from accounts.actors import ActingUser
from audit.services import audit_record
from creditplatform.db import default_connection, document_insert, execute_prepared, insert_values, row_document
from fraud.choices import AlertResolution, AlertStatus, FraudDecisionOutcome
from fraud.config import FraudConfig, configs, fraud_config
from fraud.decision import combined_score, decide, risk_level
from fraud.features import TransactionFacts, model_row, model_values, rule_context
from fraud.models import (
    FraudAlert,
    FraudCheck,
    FraudRule,
    FraudRuleSet,
    FraudRuleVersion,
    FraudSettings,
    Transaction,
)
from fraud.rules import ACTIONS, BacktestResult, RuleError, check_reason
from fraud.sandbox import backtest_condition, check_condition, first_transaction_failure
from fraud.selectors import backtest_rows, transaction_get_stored, transaction_screen_lookup
from fraud.velocity import velocity
from scoring.ml.model import LoadedModel
from scoring.services import CLIENT_ERASED, client_erased_meanwhile, client_ids_check, client_pks_get_or_create
from scoring.signals import decisions_recorded

logger = logging.getLogger(__name__)

RESOLVE_PERMISSION = "fraud.resolve_fraudalert"
TAKE_PERMISSION = "fraud.take_fraudalert"
ACTIVATE_PERMISSION = "fraud.activate_fraudrule"


# --- Screening transactions ----------------------------------------------------------------


class TransactionConflict(Exception):
    """A ``transaction_id`` this caller already used for a different transaction."""


@dataclass(frozen=True)
class ScreenRequest:
    """One validated transaction to screen. ``timestamp_given``: the caller sent the timestamp."""

    transaction_id: str
    client_id: str
    facts: TransactionFacts
    timestamp_given: bool = True


@dataclass(frozen=True)
class ScreenOutcome:
    transaction: Transaction
    check: FraudCheck
    alert: FraudAlert | None
    client_id: str
    replayed: bool = False


def _same_transaction(stored: Transaction, request: ScreenRequest) -> bool:
    facts = request.facts
    same = (
        stored.client.client_id == request.client_id
        and stored.amount == Decimal(str(facts.amount)).quantize(Decimal("0.01"))
        and stored.type == facts.type
        and stored.currency == facts.currency
        and stored.country == facts.country
        and stored.channel == facts.channel
        and stored.beneficiary == facts.beneficiary
        and stored.device_id == facts.device_id
        and stored.merchant_category == facts.merchant_category
    )
    return same and (not request.timestamp_given or stored.timestamp == facts.timestamp)


def _replay(request: ScreenRequest, caller: str) -> ScreenOutcome | None:
    stored = transaction_get_stored(transaction_id=request.transaction_id, submitted_by=caller)
    if stored is None:
        return None
    if not _same_transaction(stored, request):
        raise TransactionConflict(
            f"transaction_id {request.transaction_id} was already screened for a different transaction."
        )
    try:
        check = stored.fraud_check
    except FraudCheck.DoesNotExist:
        # Stored without a check (imported history): the id is taken, there is no decision to return.
        raise TransactionConflict(
            f"transaction_id {request.transaction_id} is already recorded (without a fraud check)."
        ) from None
    if (check.features or {}).get("historique_impaye", 0) != (request.facts.historique_impaye or 0):
        # Client context the transaction row does not keep: its check's snapshot does.
        raise TransactionConflict(
            f"transaction_id {request.transaction_id} was already screened with another historique_impaye."
        )
    alert = getattr(check, "alert", None)
    _drop_reverse_links(stored, check, alert)
    return ScreenOutcome(stored, check, alert, stored.client.client_id, replayed=True)


def transaction_screen(
    *, request: ScreenRequest, caller: str, model: LoadedModel | None, config: FraudConfig | None = None
) -> ScreenOutcome:
    """Decide on one transaction with ``model`` (or the rules alone), store it, open an alert if needed.

    Transaction ids belong to their caller (``caller``, stored as ``submitted_by``): the same
    caller sending the same ``transaction_id`` again gets the stored decision (also when both
    requests arrive together: the unique (caller, id) constraint decides, the loser reads the
    winner's row); the same caller sending the same id for a different transaction raises
    ``TransactionConflict``. Another caller's id is never looked at, so it can neither be
    replayed nor detected. Transaction, check and alert are written in one database transaction.

    New transactions are the hot path, so there is no look-up of its own: the probe for a
    stored ``transaction_id`` rides in the velocity look-up's round trip. A replay is
    answered from there before any rule or model runs; a duplicate sent at the same instant
    (not stored yet at the look-up) hits the unique constraint at the insert, and only then
    is the stored one read.
    """
    started = time.perf_counter()
    caller = caller[:100]  # as stored (``submitted_by``, ``caller``)
    facts = request.facts
    # The client's key, its history and any transaction this caller stored under this id, in
    # one round trip (an unknown client has no history).
    lookup = transaction_screen_lookup(
        caller=caller,
        transaction_id=request.transaction_id,
        client_id=request.client_id,
        at=facts.timestamp,
        beneficiary=facts.beneficiary,
        device_id=facts.device_id,
        country=facts.country,
    )
    if lookup.stored_pk is not None:
        # A replay: the stored decision, or a refusal if it was another transaction. (None:
        # removed since the look-up, so it is screened as new.)
        replay = _replay(request, caller)
        if replay is not None:
            return replay
    config = config or fraud_config()
    client_pk, summary = lookup.client_pk, lookup.history
    if client_pk is None:  # unknown ids are accepted: the client is created with the transaction, below
        client_ids_check(client_ids=[request.client_id])
    features = velocity(
        summary,
        amount=facts.amount,
        beneficiary=facts.beneficiary,
        device_id=facts.device_id,
        country=facts.country,
    )
    context = rule_context(facts, features, config.locale)
    outcome = config.rules.evaluate(context)
    probability = None
    if model is not None:
        row = model_row(model.schema, model_values(context))
        probability = round(float(model.probabilities(row.reshape(1, -1))[0]), 6)
    thresholds = config.thresholds(model.threshold if model is not None else None)
    score = combined_score(probability, outcome.hits)
    decision = decide(score, outcome.hits, thresholds)
    rule_errors = [{"rule": f.name, "version": f.version, "error": f.error} for f in outcome.failures]
    if rule_errors:
        logger.warning(  # the caller's reference as an extra: pseudonymised like every other line's
            "fraud rules failed: %s",
            ", ".join(f"{f.name} v{f.version}" for f in outcome.failures),
            extra={"transaction_id": request.transaction_id},
        )

    txn = Transaction(
        transaction_id=request.transaction_id,
        submitted_by=caller,
        amount=Decimal(str(facts.amount)).quantize(Decimal("0.01")),
        currency=facts.currency,
        type=facts.type,
        timestamp=facts.timestamp,
        country=facts.country,
        channel=facts.channel,
        beneficiary=facts.beneficiary,
        device_id=facts.device_id,
        merchant_category=facts.merchant_category,
    )
    check = FraudCheck(
        transaction=txn,
        model_version=model.record if model is not None else None,
        features=context,
        fraud_score=score,
        model_score=probability,
        risk_level=risk_level(decision),
        decision=decision,
        triggered_rules=[hit.as_dict() for hit in outcome.hits],
        rule_set_id=config.rule_set.pk if config.rule_set is not None else None,
        rule_errors=rule_errors,
        thresholds=thresholds.as_dict(),
        caller=caller,
    )
    if config.rule_set is not None:
        FraudCheck.rule_set.field.set_cached_value(check, config.rule_set)  # read by ``check.rule_versions``
    alert = FraudAlert(fraud_check=check) if decision != FraudDecisionOutcome.ALLOW else None
    try:
        check.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if client_pk is None:
            # The new client is stored in the transaction that stores what names it: a
            # transaction refused at the insert (its id taken meanwhile) leaves no client behind.
            with transaction.atomic():
                txn.client_id = client_pks_get_or_create(client_ids=[request.client_id])[request.client_id]
                _store_screened(txn, check, alert)
        else:
            txn.client_id = client_pk
            _store_screened(txn, check, alert)
    except IntegrityError as exc:
        if client_erased_meanwhile(exc):  # erased since the look-up: nothing stored under its anchor
            raise ValidationError({"client_id": CLIENT_ERASED}) from exc
        # The transaction_id is taken (a replay, or a concurrent duplicate that won the insert):
        # answer with the stored decision, or refuse if it was another transaction.
        replay = _replay(request, caller)
        if replay is None:
            raise
        return replay
    if alert is not None:
        logger.info("fraud alert opened", extra={"transaction_id": txn.transaction_id, "decision": decision})
    decisions_recorded.send(sender=FraudCheck, kind="fraud", outcomes=[decision])
    return ScreenOutcome(txn, check, alert, request.client_id)


def _store_screened(txn: Transaction, check: FraudCheck, alert: FraudAlert | None) -> None:
    """Store the transaction, its check and its alert (if any) together, durably, before the answer.

    On PostgreSQL one statement, one round trip: a CTE inserting the transaction, then the
    check pointing at it, then the alert pointing at the check. A single statement is atomic
    and, outside a transaction, committed (``synchronous_commit`` on) when it returns, so
    nothing is answered that is not stored; inside one (tests, a caller's ``atomic``) a
    savepoint keeps a duplicate's ``IntegrityError`` from breaking the outer transaction.
    Elsewhere three ``save`` calls in one transaction, as before.
    """
    db = default_connection()  # looked up once: each attribute of ``connection`` looks it up again
    if db.vendor != "postgresql":
        with transaction.atomic():
            txn.save(force_insert=True)
            check.transaction = txn
            check.save(force_insert=True)
            if alert is not None:
                alert.fraud_check = check
                alert.save(force_insert=True)
        _drop_reverse_links(txn, check, alert)
        return
    quote = db.ops.quote_name
    parts, params = [], []
    for name, obj, links in (
        ("t", txn, {}),
        ("c", check, {"transaction": "(SELECT id FROM t)"}),
        ("a", alert, {"fraud_check": "(SELECT id FROM c)"}),
    ):
        if obj is None:
            continue
        table, returning = quote(obj._meta.db_table), f"RETURNING {quote(str(obj._meta.pk.column))} AS id"
        document = row_document(obj, links, db)  # one parameter for the row (creditplatform/db.py)
        if document is not None:
            columns, selected, text = document
            parts.append(f"{name} AS ({document_insert(table, columns, selected)} {returning})")
            params.append(text)
            continue
        columns, placeholders, values = insert_values(obj, links, db)
        parts.append(
            f"{name} AS (INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(placeholders)}) {returning})"
        )
        params += values
    sql = f"WITH {', '.join(parts)} SELECT (SELECT id FROM t), (SELECT id FROM {'a' if alert else 'c'})"
    scope = transaction.atomic() if db.in_atomic_block else nullcontext()
    with scope, db.cursor() as cursor:
        execute_prepared(cursor, "fraud_store", sql, params)  # planned once per session
        txn_pk, last_pk = cursor.fetchone()
    txn.pk = txn_pk
    check.transaction = txn
    stored = [txn, check]
    if alert is not None:
        alert.pk = last_pk
        alert.fraud_check = check
        stored.append(alert)
    for row in stored:
        row._state.adding, row._state.db = False, db.alias
    _drop_reverse_links(txn, check, alert)


def _drop_reverse_links(txn: Transaction, check: FraudCheck, alert: FraudAlert | None) -> None:
    """Keep only the rows' forward links (alert -> check -> transaction).

    Setting a one-to-one link caches it both ways, so the three rows pointed at each other: a
    reference cycle that the garbage collector, not the reference count, had to free after
    every check (with its features and fired rules), about one young collection every 45 checks.
    The answer reads the forward links; a reverse one read later is a query, as for any row.
    """
    FraudCheck.transaction.field.remote_field.delete_cached_value(txn)
    if alert is not None:
        FraudAlert.fraud_check.field.remote_field.delete_cached_value(check)


# --- Rules -----------------------------------------------------------------------------------


def rule_set_digest(refs: list[dict[str, Any]]) -> str:
    """The content address of a rule set: SHA-256 of its canonical JSON (keys sorted)."""
    return hashlib.sha256(orjson.dumps(refs, option=orjson.OPT_SORT_KEYS)).hexdigest()


def fraud_rule_set_record(*, refs: list[dict[str, Any]]) -> FraudRuleSet:
    """The stored ``FraudRuleSet`` naming exactly ``refs`` ([{id, rule, version}] in evaluation
    order), created the first time this set is in force (concurrent creators agree on one row)."""
    rule_set, _ = FraudRuleSet.objects.get_or_create(digest=rule_set_digest(refs), defaults={"rule_versions": refs})
    return rule_set


RULE_FIELDS = ("name", "description", "condition", "reason", "action", "weight", "is_active", "order")


RULE_NAME_TAKEN = "Fraud rule with this Name already exists."  # Django's own message, for a race


RULE_EDIT_DENIED = "Only an admin activates a rule or changes an active one; save it inactive."


def fraud_rule_may_activate(user: ActingUser) -> bool:
    """Who may activate a rule (and so change an active one): admins, and the platform itself.

    ``None`` is the platform (management commands, the bench set-up), never a request.
    """
    return user is None or bool(user.has_perm(ACTIVATE_PERMISSION))


FOUR_EYES_MESSAGE = (
    "Four eyes are on (PROMOTION_FOUR_EYES): request the activation under Model governance, Promotion requests; "
    "a second admin approves it."
)


# What a rule does, as opposed to what it is called: changing these on an active rule changes
# live decisions, so it is a promotion like an activation.
RULE_BEHAVIOUR_FIELDS = ("condition", "reason", "action", "weight")
FOUR_EYES_CHANGE_MESSAGE = (
    "Four eyes are on (PROMOTION_FOUR_EYES): an active rule's condition, reason, action and weight change only "
    "through a promotion. Deactivate it, change it, then request its activation; a second admin approves it."
)


def fraud_rule_edit_check(
    *,
    user: ActingUser,
    rule: FraudRule | None,
    is_active: bool,
    promotion: Any = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """The one home of "who may edit an active rule": analysts save drafts only, and while four
    eyes are on a person neither activates a rule nor changes what an active one does without an
    approved promotion request (``promotion``, governance.promotion).

    ``changes`` are the fields the save would set. Raises ``PermissionDenied(RULE_EDIT_DENIED)``
    when ``user`` would activate a rule or change an active one without the right to activate
    rules, ``PermissionDenied(FOUR_EYES_MESSAGE)`` for an activation and
    ``PermissionDenied(FOUR_EYES_CHANGE_MESSAGE)`` for a change of behaviour of an active rule.
    The platform itself (``user=None``: commands, set-up) is not asked for a promotion.
    """
    was_active = bool(rule is not None and rule.pk and rule.is_active)
    if (is_active or was_active) and not fraud_rule_may_activate(user):
        raise PermissionDenied(RULE_EDIT_DENIED)
    if promotion is not None or user is None or not settings.PROMOTION_FOUR_EYES:
        return
    if is_active and not was_active:
        raise PermissionDenied(FOUR_EYES_MESSAGE)
    if is_active and was_active and rule is not None and changes:
        changed = [n for n in RULE_BEHAVIOUR_FIELDS if n in changes and changes[n] != getattr(rule, n)]
        if changed:
            raise PermissionDenied(FOUR_EYES_CHANGE_MESSAGE)


def fraud_rule_may_edit(user: ActingUser, rule: FraudRule) -> bool:
    """``fraud_rule_edit_check`` as a yes/no, for the admin's change permission."""
    try:
        fraud_rule_edit_check(user=user, rule=rule, is_active=rule.is_active)
    except PermissionDenied:
        return False
    return True


def fraud_rule_check(**fields: Any) -> tuple[str, ...]:
    """Check a rule's condition, reason, action and weight; raises ``ValidationError`` naming each field.

    The condition is an analyst's text: it is compiled (and tried on probe transactions) in a
    child process with a CPU limit (``fraud.sandbox``), never in this web process, and a
    condition that takes too long to check is refused like any other error. Returns the
    fields the condition reads.
    """
    errors: dict[str, str] = {}
    used: tuple[str, ...] = ()
    try:
        used = check_condition(fields.get("condition", ""))
    except RuleError as exc:
        errors["condition"] = str(exc)
    try:
        check_reason(fields.get("reason", "") or "")
    except RuleError as exc:
        errors["reason"] = str(exc)
    if fields.get("action", "flag") not in ACTIONS:
        errors["action"] = f"The action must be one of {', '.join(ACTIONS)}."
    try:
        weight_ok = 0 <= float(fields.get("weight", 0.0)) <= 1
    except (TypeError, ValueError):
        weight_ok = False
    if not weight_ok:
        errors["weight"] = "The weight is a number between 0 and 1."
    if errors:
        raise ValidationError(errors)
    return used


FIRST_TRANSACTION_WARNING = (
    "This condition cannot be evaluated on a client's first transaction ({failure}): there the rule counts "
    "as not matched, so it never fires for a new client. Guard the division, e.g. count_24h > 1 and …"
)


def fraud_rule_condition_warning(condition: str) -> str | None:
    """What an admin should know about a condition that is saved but will not always run: it fails
    (a division by zero...) on a client's first transaction, where a rule that fails counts as not
    matched. None when it runs there (or does not compile: ``fraud_rule_check`` refuses it)."""
    failure = first_transaction_failure(condition)
    return FIRST_TRANSACTION_WARNING.format(failure=failure) if failure else None


def fraud_rule_save(
    *, user: ActingUser, rule: FraudRule | None = None, note: str = "", promotion: Any = None, **fields: Any
) -> FraudRule:
    """Create a rule or change one, recording the result as a new immutable version.

    Analysts (without ``fraud.activate_fraudrule``) propose: they create inactive drafts and
    change inactive rules; activating a rule, or changing an active one, is for admins
    (``user=None`` is the platform itself: commands and set-up scripts, never a request). A
    save that changes nothing makes no version. The condition is checked first: a rule that
    does not compile is never made active or changed; deactivating one is never refused by it.
    """
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValueError(f"unknown rule fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        if rule is None:
            current = FraudRule()
            values = {name: getattr(current, name) for name in RULE_FIELDS}
        else:
            current = FraudRule.objects.select_for_update().get(pk=rule.pk)
            values = {name: getattr(current, name) for name in RULE_FIELDS}
        was_active = bool(current.pk and current.is_active)
        values.update(fields)
        fraud_rule_edit_check(
            user=user, rule=current, is_active=values["is_active"], promotion=promotion, changes=values
        )
        # Deactivating and nothing else only stops the rule: its stored condition is not checked
        # again (a rule the language now refuses must still be stoppable; activating it is checked).
        stops_only = was_active and not values["is_active"]
        stops_only = stops_only and all(values[n] == getattr(current, n) for n in RULE_FIELDS if n != "is_active")
        if not stops_only:
            fraud_rule_check(**values)
        if current.pk and all(getattr(current, name) == values[name] for name in RULE_FIELDS):
            return current
        created = current.pk is None
        for name, value in values.items():
            setattr(current, name, value)
        current.version += 1
        if current.pk is None:
            current.created_by = user if getattr(user, "pk", None) else None
        current.updated_by = user if getattr(user, "pk", None) else None
        current.full_clean()
        try:
            with transaction.atomic():
                current.save()
        except IntegrityError as exc:  # full_clean read no such name: another save took it meanwhile
            if FraudRule.objects.filter(name=current.name).exclude(pk=current.pk).exists():
                raise ValidationError({"name": RULE_NAME_TAKEN}) from exc
            raise
        version = FraudRuleVersion.objects.create(
            rule=current,
            version=current.version,
            note=note[:200],
            created_by=current.updated_by,
            **{name: getattr(current, name) for name in RULE_FIELDS},
        )
        if created:
            action = "fraud.rule.created"
        elif current.is_active != was_active:
            action = "fraud.rule.activated" if current.is_active else "fraud.rule.deactivated"
        else:
            action = "fraud.rule.changed"
        audit_record(
            actor=user,
            action=action,
            target=current,
            details={
                "name": current.name,
                "version": current.version,
                "is_active": current.is_active,
                "action": current.action,
                "weight": current.weight,
                # The condition and the note stay in the version row: free text may name a
                # beneficiary or a client, and the trail can never be erased.
                "rule_version_id": version.pk,
            },
        )
        transaction.on_commit(configs.invalidate)
    return current


def fraud_rule_backtest(
    *,
    condition: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int | None = None,
) -> BacktestResult:
    """Run a condition (a saved version's or an unsaved one) over the stored checks of [start, end).

    The condition is evaluated in a child process with a CPU limit (``fraud.sandbox``): a
    back-test that takes too long is stopped and reported on the condition.
    """
    limit = limit or settings.FRAUD_BACKTEST_MAX_ROWS
    rows = backtest_rows(start=start, end=end, limit=limit + 1)  # one more: was the range cut?
    capped = False

    def kept() -> Iterator[tuple[dict[str, Any], bool | None]]:
        nonlocal capped
        for count, row in enumerate(rows):
            if count == limit:
                capped = True
                return
            yield row

    try:
        result = backtest_condition(condition, kept())
    except RuleError as exc:
        raise ValidationError({"condition": str(exc)}) from exc
    return dataclasses.replace(result, capped=capped)


# --- Alerts ----------------------------------------------------------------------------------


def fraud_alert_can_resolve(*, alert: FraudAlert, user: ActingUser) -> bool:
    """The assignee (object permission) or an admin (model permission), while it is not resolved.

    The assignee only while their role still works alerts (``take``): the object permission
    given on assignment outlives a change of role, and someone moved to viewer must not
    resolve the alerts they held.
    """
    if alert.status == AlertStatus.RESOLVED or user is None or not user.is_authenticated:
        return False
    return bool(
        user.has_perm(RESOLVE_PERMISSION)
        or (user.has_perm(TAKE_PERMISSION) and user.has_perm(RESOLVE_PERMISSION, alert))
    )


def _locked(alert: FraudAlert) -> FraudAlert:
    return FraudAlert.objects.select_for_update().get(pk=alert.pk)


def _set_assignee(alert: FraudAlert, assignee: User, by: User, action: str) -> FraudAlert:
    previous = alert.assignee
    if previous is not None and previous.pk != assignee.pk:
        remove_perm(RESOLVE_PERMISSION, previous, alert)
    alert.assignee = assignee
    alert.assigned_by = by if getattr(by, "pk", None) else None
    alert.assigned_at = timezone.now()
    alert.status = AlertStatus.ASSIGNED
    alert.save(update_fields=["assignee", "assigned_by", "assigned_at", "status"])
    assign_perm(RESOLVE_PERMISSION, assignee, alert)
    # The row keeps only the last assignment: the trail keeps each one (who held it before).
    audit_record(
        actor=by,
        action=action,
        target=alert,
        details={
            "fraud_check": str(alert.fraud_check_id),
            "assignee": f"user:{assignee.pk}",
            "previous_assignee": f"user:{previous.pk}" if previous is not None else None,
        },
    )
    return alert


ASSIGNEE_NOT_ANALYST = "Alerts are assigned to active analysts or admins."


def fraud_analysts() -> QuerySet[User]:
    """Who may hold a fraud alert: the analysts (``accounts.services.analysts``, the one home of that rule)."""
    from accounts.services import analysts

    return analysts()


def fraud_analyst_check(user: ActingUser) -> None:
    """Raises ``ValidationError({"assignee": ASSIGNEE_NOT_ANALYST})`` unless ``user`` may hold an alert."""
    if user is None or not fraud_analysts().filter(pk=user.pk).exists():
        raise ValidationError({"assignee": ASSIGNEE_NOT_ANALYST})


def fraud_alert_assign(*, alert: FraudAlert, assignee: User, by: User) -> FraudAlert:
    """An admin gives an alert to an analyst; the previous assignee loses the right to resolve it."""
    if not by.has_perm("fraud.assign_fraudalert"):
        raise PermissionDenied("Only an admin assigns alerts.")
    fraud_analyst_check(assignee)
    with transaction.atomic():
        locked = _locked(alert)
        if locked.status == AlertStatus.RESOLVED:
            raise ValidationError({"assignee": "This alert is already resolved."})
        return _set_assignee(locked, assignee, by, "fraud.alert.assigned")


def fraud_alert_take(*, alert: FraudAlert, user: User) -> FraudAlert:
    """An analyst takes an unassigned alert for themselves (first come, first served)."""
    if not user.has_perm(TAKE_PERMISSION):
        raise PermissionDenied("Your role does not work fraud alerts.")
    with transaction.atomic():
        locked = _locked(alert)
        if locked.status != AlertStatus.OPEN:
            raise ValidationError({"assignee": "This alert is already assigned or resolved."})
        return _set_assignee(locked, user, user, "fraud.alert.taken")


def fraud_alert_resolve(*, alert: FraudAlert, user: User, resolution: str, comment: str) -> FraudAlert:
    """The assignee (or an admin) closes an alert as confirmed fraud or false positive, with a comment."""
    if resolution not in AlertResolution.values:
        raise ValidationError({"resolution": f"Choose one of: {', '.join(AlertResolution.values)}."})
    if not comment.strip():
        raise ValidationError({"resolution_comment": "Say what you checked."})
    with transaction.atomic():
        locked = _locked(alert)
        if locked.status == AlertStatus.RESOLVED:
            raise ValidationError({"resolution": "This alert is already resolved."})
        if not fraud_alert_can_resolve(alert=locked, user=user):
            raise PermissionDenied("Only the analyst this alert is assigned to, or an admin, resolves it.")
        locked.status = AlertStatus.RESOLVED
        locked.resolution = resolution
        locked.resolution_comment = comment.strip()[:2000]
        locked.resolved_by = user
        locked.resolved_at = timezone.now()
        locked.save(update_fields=["status", "resolution", "resolution_comment", "resolved_by", "resolved_at"])
        # A resolution is a label (back-tests, training): who set it is in the trail. The
        # comment stays on the alert (free text may name the person; the trail is never erased).
        audit_record(
            actor=user,
            action="fraud.alert.resolved",
            target=locked,
            details={
                "fraud_check": str(locked.fraud_check_id),
                "resolution": resolution,
                "assignee": f"user:{locked.assignee_id}" if locked.assignee_id else None,
            },
        )
    return locked


# --- Thresholds ------------------------------------------------------------------------------


REVIEW_NOT_BELOW_BLOCK = "The review threshold is below the block threshold."
BLOCK_AT_MOST_ONE = "At most 1: a fraud score never passes 1."


def fraud_thresholds_check(*, review_threshold: float | None, block_threshold: float | None) -> None:
    """The one home of the thresholds rule: both above 0, block at most 1 (a score's ceiling),
    review (if set) below block.

    Raises ``ValidationError`` naming each field; a value left out (``None``) is not checked
    (an empty review threshold follows the model).
    """
    errors: dict[str, list[str]] = {}
    if review_threshold is not None and block_threshold is not None and review_threshold >= block_threshold:
        errors.setdefault("review_threshold", []).append(REVIEW_NOT_BELOW_BLOCK)
    if review_threshold is not None and review_threshold <= 0:
        errors.setdefault("review_threshold", []).append("Above 0 (leave empty to follow the model).")
    if block_threshold is not None and block_threshold <= 0:
        errors.setdefault("block_threshold", []).append("Above 0.")
    if block_threshold is not None and block_threshold > 1:
        errors.setdefault("block_threshold", []).append(BLOCK_AT_MOST_ONE)
    if errors:
        raise ValidationError(errors)


THRESHOLDS_FOUR_EYES_MESSAGE = (
    "Four eyes are on (PROMOTION_FOUR_EYES): the fraud score thresholds change only through a promotion request "
    "under Model governance, Promotion requests; a second admin approves it."
)


def fraud_thresholds_change_check(*, promotion: Any = None) -> None:
    """The one home of "who changes the thresholds at once": while four eyes are on, only an
    approved promotion request (``promotion``, governance.promotion), whoever asks.

    Raises ``PermissionDenied(THRESHOLDS_FOUR_EYES_MESSAGE)``.
    """
    if promotion is None and settings.PROMOTION_FOUR_EYES:
        raise PermissionDenied(THRESHOLDS_FOUR_EYES_MESSAGE)


def fraud_settings_current() -> dict[str, float | None]:
    """The thresholds in force, keyed as ``fraud_settings_update`` records them."""
    return FraudSettings.objects.get_or_create(pk=1)[0].threshold_values


def fraud_settings_update(
    *, user: ActingUser, review_threshold: float | None, block_threshold: float, promotion: Any = None
) -> FraudSettings:
    """Change the score thresholds (admins); every process follows within FRAUD_CONFIG_REFRESH_SECONDS.

    While four eyes are on, a change is carried out only under an approved promotion request
    (``fraud_thresholds_change_check``).
    """
    with transaction.atomic():
        row, _ = FraudSettings.objects.select_for_update().get_or_create(pk=1)
        before = row.threshold_values
        if before != {"review_threshold": review_threshold, "block_threshold": block_threshold}:
            fraud_thresholds_change_check(promotion=promotion)
        row.review_threshold = review_threshold
        row.block_threshold = block_threshold
        row.updated_by = user if getattr(user, "pk", None) else None
        fraud_thresholds_check(review_threshold=review_threshold, block_threshold=block_threshold)
        row.full_clean()
        row.save()
        audit_record(
            actor=user,
            action="fraud.thresholds.changed",
            target=row,
            details={
                "before": before,
                "after": {"review_threshold": review_threshold, "block_threshold": block_threshold},
                **({"promotion": promotion.pk} if promotion is not None else {}),
            },
        )
        transaction.on_commit(configs.invalidate)
    return row
