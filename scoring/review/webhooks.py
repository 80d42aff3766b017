"""Decision webhooks: tell the caller when one of its decisions becomes final, or when the review it
waited for is withdrawn by its client's erasure (docs/review.md).

Signed and posted by ``creditplatform.webhooks`` (the drift alerts' sender: the same
``X-Credit-Signature`` HMAC, the same verification). Each delivery is a row the admin
shows; the Celery task ``scoring.tasks.decision_webhook_deliver`` makes the attempts and
retries with exponential backoff.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import Acting
from accounts.principals import caller_may_decide
from audit.services import audit_record
from creditplatform.outbox import enqueue_each, requeue_lost
from creditplatform.webhooks import (
    WebhookError,
    WebhookRetry,
    WebhookTargetRefused,
    webhook_post,
    webhook_url_normal,
    webhook_url_problem,
)
from scoring.models import Decision, DecisionWebhook, WebhookDelivery
from scoring.review.selectors import refusal_reasons_shown

logger = logging.getLogger(__name__)

EVENT = "decision.final"
WITHDRAWN_EVENT = "decision.withdrawn"
DUPLICATE_MESSAGE = "You already have an active webhook for this URL: each event would be posted twice."


def decision_webhook_duplicate_check(*, caller: str, url: str, exclude_pk: int | None = None) -> None:
    """Refuse a second active webhook of one caller for one URL (registered, or reactivated in the admin).

    The table's conditional unique constraint backs this up against two requests at once.
    """
    others = DecisionWebhook.objects.filter(caller=caller[:100], url=url, is_active=True)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if others.exists():
        raise ValidationError({"url": DUPLICATE_MESSAGE})


def decision_webhook_register(*, caller: str, url: str, actor: Acting = None) -> DecisionWebhook:
    """Register a URL for the caller's decisions; the returned row carries the new secret (show it once).

    The URL is stored as ``webhook_url_normal`` writes it (scheme and host lowercased, a
    default port dropped), so two spellings of one target are one webhook. It must lead to
    a public address: an IP literal that is loopback, private,
    link-local... or ``localhost`` is refused here, a name's addresses at each delivery
    (``creditplatform.webhooks``), unless ``DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS``.
    """
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise ValidationError({"url": "An http(s) URL."}) from exc
    # One spelling per target (host case, default port): the duplicate check and the table's
    # unique constraint compare the stored URL.
    url = webhook_url_normal(url)
    if len(url) > 500:
        raise ValidationError({"url": "At most 500 characters."})
    problem = None if settings.DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS else webhook_url_problem(url)
    if problem:
        raise ValidationError({"url": problem})
    decision_webhook_duplicate_check(caller=caller, url=url)
    try:
        with transaction.atomic():
            webhook = DecisionWebhook.objects.create(caller=caller[:100], url=url, secret=secrets.token_urlsafe(32))
    except IntegrityError as exc:  # the same URL registered by a concurrent request
        raise ValidationError({"url": DUPLICATE_MESSAGE}) from exc
    audit_record(actor=actor, action="webhook.registered", target=webhook, details={"caller": webhook.caller})
    return webhook


REVOKED_CALLER_MESSAGE = (
    "This webhook's caller may no longer have one: its API key is revoked or expired, or its user is "
    "inactive or no longer an analyst or admin. The caller registers a webhook again once it may."
)


def decision_webhook_caller_check(*, caller: str) -> None:
    """Refuse (``ValidationError`` naming ``is_active``) a webhook whose caller may no longer register
    one (``CanScore``): an API key revoked or expired, a user inactive or without a deciding role.
    The admin does not reactivate it, and no delivery is queued for it. Revoking a key also switches
    its webhooks off (``decision_webhooks_deactivate``). A bearer token's subject (``oidc:``) is the
    provider's to manage: nothing here knows it left (``caller_may_decide``, shared with batch jobs)."""
    if not caller_may_decide(caller=caller):
        raise ValidationError({"is_active": REVOKED_CALLER_MESSAGE})


def decision_webhook_set_active(*, webhook: DecisionWebhook, active: bool, actor: Acting) -> DecisionWebhook:
    """An admin switches a webhook off (deliveries still owed are then not sent) or back on; each switch
    in the audit trail (``webhook.deactivated``, reason ``admin``; ``webhook.reactivated``), as a revoked
    key's are: who let a URL be told the decisions' outcomes again, and when.

    Switching back on is refused (``ValidationError``) for a caller with another active webhook for
    the URL, or one that may no longer have one (``decision_webhook_caller_check``)."""
    with transaction.atomic():
        hook = DecisionWebhook.objects.select_for_update().get(pk=webhook.pk)
        if hook.is_active == active:
            return hook
        if active:
            decision_webhook_duplicate_check(caller=hook.caller, url=hook.url, exclude_pk=hook.pk)
            decision_webhook_caller_check(caller=hook.caller)
        hook.is_active = active
        try:
            with transaction.atomic():
                hook.save(update_fields=["is_active"])
        except IntegrityError as exc:  # reactivated beside another one switched on meanwhile
            raise ValidationError({"is_active": DUPLICATE_MESSAGE}) from exc
        details = {"caller": hook.caller} if active else {"caller": hook.caller, "reason": "admin"}
        action = "webhook.reactivated" if active else "webhook.deactivated"
        audit_record(actor=actor, action=action, target=hook, details=details)
    return hook


def decision_webhooks_deactivate(*, caller: str, reason: str, actor: Acting = None) -> int:
    """Deactivate every active webhook of ``caller`` (its API key was revoked); each one in the audit trail.

    Deliveries already queued for them are then not sent (``decision_webhook_attempt``).
    """
    with transaction.atomic():
        hooks = list(DecisionWebhook.objects.select_for_update().filter(caller=caller[:100], is_active=True))
        for hook in hooks:
            hook.is_active = False
            hook.save(update_fields=["is_active"])
            audit_record(
                actor=actor,
                action="webhook.deactivated",
                target=hook,
                details={"caller": hook.caller, "reason": reason},
            )
    return len(hooks)


def decision_payload(decision: Decision) -> dict[str, Any]:
    """What the receiver is told: the decision's id and outcomes only (never inputs, names or client ids).

    A person's refusal adds the principal reasons they stated, as the decision's detail and its
    notice give them (``persons_refusal_reasons``): codes and the catalogue's text, never free text.
    """
    return {
        "event": EVENT,
        "decision_id": str(decision.pk),
        "automated_decision": decision.decision,
        "final_decision": decision.final_outcome,
        "decided_by": f"user:{decision.decided_by_id}" if decision.decided_by_id else "model",
        "decided_at": (decision.decided_at or decision.created_at).isoformat(),
        "refusal_reasons": refusal_reasons_shown(decision),
    }


def withdrawn_payload(decision: Decision, *, withdrawn_at: datetime) -> dict[str, Any]:
    """``decision.withdrawn``: the referral's id, the model's decision and when its review was withdrawn.

    Nothing about the person, nor why (the erasure request must not lead to the kept records).
    """
    return {
        "event": WITHDRAWN_EVENT,
        "decision_id": str(decision.pk),
        "automated_decision": decision.decision,
        "status": "withdrawn",
        "withdrawn_at": withdrawn_at.isoformat(),
    }


def _deliveries_create(
    decision: Decision, *, event: str, payload: Callable[[], dict[str, Any]], now: datetime
) -> list[int]:
    """One pending delivery per active webhook of the decision's caller (in the caller's transaction);
    none when its caller may no longer have one (``decision_webhook_caller_check``: an API key
    expired or revoked, a person deactivated or without the role). ``payload`` is built only
    when a webhook will carry it."""
    hooks = list(DecisionWebhook.objects.filter(caller=decision.caller, is_active=True))
    if not hooks:
        return []
    try:
        decision_webhook_caller_check(caller=decision.caller)
    except ValidationError:
        return []
    body = payload()
    return [
        WebhookDelivery.objects.create(
            webhook=hook, decision=decision, event=event, payload=body, next_attempt_at=now
        ).pk
        for hook in hooks
    ]


def decision_webhooks_queue(*, decision_id: Any) -> list[int]:
    """One delivery per active webhook of the decision's caller; each sent by a Celery task.

    Called once the decision's final outcome has committed: a broker that refuses the messages
    does not undo it, nor fail the caller's request. Those deliveries wait, pending, for
    ``decision_webhooks_reconcile``.
    """
    decision = Decision.objects.filter(pk=decision_id).first()
    if decision is None or decision.final_outcome is None:
        return []
    with transaction.atomic():
        ids = _deliveries_create(decision, event=EVENT, payload=partial(decision_payload, decision), now=timezone.now())
        if ids:
            transaction.on_commit(partial(_send, ids))
    return ids


def decision_withdrawn_webhooks_queue(*, decisions: list[Decision], withdrawn_at: datetime) -> list[int]:
    """``decision.withdrawn`` for each referral whose review an erasure withdrew, to each active webhook of
    its caller: the caller waiting for ``decision.final`` learns that none will come.

    Called by ``review_cases_withdraw``, in the erasure's transaction: the deliveries are stored
    with the withdrawal (both, or neither) and their messages sent once it has committed, by
    the same task, retries and reconciler as ``decision.final``. A decision that still has a final
    outcome (a contest or an override under review: the earlier decision stands) gets none.
    """
    ids: list[int] = []
    with transaction.atomic():
        for decision in decisions:
            if decision.final_outcome is not None:
                continue
            payload = partial(withdrawn_payload, decision, withdrawn_at=withdrawn_at)
            ids += _deliveries_create(decision, event=WITHDRAWN_EVENT, payload=payload, now=timezone.now())
        if ids:
            transaction.on_commit(partial(_send, ids))
    return ids


def _send(delivery_ids: list[int]) -> None:
    """One task per delivery. If the broker refuses, the deliveries are marked for the reconciler."""
    from scoring.tasks import decision_webhook_deliver

    enqueue_each(
        delivery_ids,
        send=decision_webhook_deliver.delay,
        refused=lambda ids: WebhookDelivery.objects.filter(pk__in=ids, status=WebhookDelivery.Status.PENDING).update(
            next_attempt_at=None
        ),
        logger=logger,
        what="webhook deliveries",
        count_key="deliveries",
    )


def decision_webhook_retry_delay(*, attempts: int) -> float:
    """Seconds before the next attempt of a delivery that failed ``attempts`` times: doubling, at most an hour."""
    return float(min(settings.DECISION_WEBHOOK_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), 3600))


def decision_webhooks_reconcile(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Send again the pending deliveries nobody will send: refused by the broker, or long overdue.

    Run every minute by beat. A delivery waiting for its retry's countdown is left alone
    until it is ``DECISION_WEBHOOK_REQUEUE_AFTER_SECONDS`` late (its message lost). The
    attempts already made count: a re-sent delivery has only the retries it had left.
    """
    now = now or timezone.now()
    ids = requeue_lost(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING),
        due_field="next_attempt_at",
        now=now,
        overdue=now - timedelta(seconds=settings.DECISION_WEBHOOK_REQUEUE_AFTER_SECONDS),
        send=_send,
        limit=limit,
    )
    if ids:
        logger.warning("webhook deliveries re-sent by the reconciler", extra={"deliveries": len(ids)})
    return len(ids)


def decision_webhook_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt: posts the payload signed with the webhook's secret and records the outcome.

    Raises ``WebhookRetry`` when trying again may help and retries are left (the delivery
    has made at most ``DECISION_WEBHOOK_MAX_RETRIES`` attempts): the task then sends a new
    message after ``WebhookRetry.countdown``. The last failure is recorded as ``failed``. A
    URL leading to an internal address is ``blocked`` at once, nothing sent: retrying cannot
    help. The delivery is locked while it is attempted: a duplicated message (redelivered,
    or sent again by the reconciler) that finds it being attempted does nothing (None).
    """
    retry: WebhookRetry | None = None
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None  # being attempted by another message
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery  # a duplicated message: already done
        if not delivery.webhook.is_active:
            # Deactivated since it was queued (or while it waited for a retry): "deactivate to stop them".
            delivery.status, delivery.finished_at = WebhookDelivery.Status.CANCELLED, timezone.now()
            delivery.last_outcome = "not sent: the webhook was deactivated"
            delivery.save(update_fields=["last_outcome", "status", "finished_at"])
            return delivery
        delivery.attempts += 1
        try:
            outcome = webhook_post(
                url=delivery.webhook.url,
                secret=delivery.webhook.secret,
                payload=delivery.payload,
                timeout=settings.DECISION_WEBHOOK_TIMEOUT,
                event=delivery.event,
                public_only=not settings.DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS,
            )
        except WebhookTargetRefused as exc:
            delivery.last_outcome = f"not delivered: {exc}"[:200]
            delivery.status, delivery.finished_at = WebhookDelivery.Status.BLOCKED, timezone.now()
        except WebhookError as exc:
            delivery.last_outcome = str(exc)[:200]
            if delivery.attempts <= settings.DECISION_WEBHOOK_MAX_RETRIES:
                retry = WebhookRetry(str(exc), countdown=decision_webhook_retry_delay(attempts=delivery.attempts))
                delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry.countdown)
            else:
                delivery.status, delivery.finished_at = WebhookDelivery.Status.FAILED, timezone.now()
        else:
            delivery.last_outcome = outcome[:200]
            delivery.status = (
                WebhookDelivery.Status.DELIVERED if outcome.startswith("delivered") else WebhookDelivery.Status.REFUSED
            )
            delivery.finished_at = timezone.now()
        delivery.save(update_fields=["attempts", "last_outcome", "status", "next_attempt_at", "finished_at"])
    if retry is not None:
        raise retry
    return delivery
