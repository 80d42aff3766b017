"""Writes of the review queue: review_case_<action>(*, ...), one transaction each.

The rules live here, and only here: who may take, assign, close and approve a case, when a
second person's approval is needed (four eyes), and what a final decision writes on the
credit decision (``final_decision``, ``decided_by``, ``decided_at``; the automated
``decision`` is never changed), and that a person's refusal states its principal reasons
(codes of ``scoring.reasons.UNDERWRITER_REASONS``, which the adverse-action notice lists).
Every action is in the audit trail, without the justification's text (personal data, in the
case only).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from accounts.actors import Acting, ActingUser
from audit.services import audit_record
from scoring.choices import REVIEW_ENDED, CreditDecisionOutcome, FinalOutcome, ReviewOrigin, ReviewStatus
from scoring.models import Client, Contest, Decision, ReviewCase
from scoring.reasons import UNDERWRITER_REASON_MAX, UNDERWRITER_REASONS
from scoring.review.webhooks import decision_withdrawn_webhooks_queue
from scoring.signals import decision_finalised

CLOSE_PERMISSION = "scoring.close_reviewcase"
# What a proposed decision writes on its case (saved together whenever one is made, made final or dropped).
PROPOSAL_FIELDS = ("proposed_decision", "justification", "refusal_reasons", "proposed_by", "proposed_at")
TAKE_PERMISSION = "scoring.take_reviewcase"
ASSIGN_PERMISSION = "scoring.assign_reviewcase"
APPROVE_PERMISSION = "scoring.approve_reviewcase"

JUSTIFICATION_MAX = 4000
OPENING_NOTE_MAX = 2000


def review_cases_open_referred(*, decision_ids: Iterable[Any]) -> int:
    """Open a case for each referred decision without an open one (in the caller's transaction)."""
    ids = list(decision_ids)
    if not ids:
        return 0
    referred = Decision.objects.filter(pk__in=ids, decision=CreditDecisionOutcome.REFER).values_list("pk", flat=True)
    created = ReviewCase.objects.bulk_create(
        [ReviewCase(decision_id=pk, origin=ReviewOrigin.REFERRED) for pk in referred], ignore_conflicts=True
    )
    return len(created)


def needs_second_approval(*, decision: Decision, final_decision: str) -> bool:
    """Four eyes: approving an applicant the model would refuse (its verdict, or its automatic refusal)."""
    return final_decision == FinalOutcome.APPROVE and (
        decision.prediction == 1 or decision.decision == CreditDecisionOutcome.REFUSE
    )


def refusal_reasons_check(*, final_decision: str, refusal_reasons: Any) -> list[str]:
    """The principal reasons of a person's decision: 1 to 4 codes of the catalogue for a refusal, none otherwise.

    ECOA / Regulation B §1002.9: the adverse-action notice gives the actual principal reasons,
    so a person who refuses states theirs; an approval has none. Returns the codes in the
    order given; a ``ValidationError`` naming ``refusal_reasons`` for anything else (not a
    list of codes, an unknown code, a code twice, more than four).
    """
    field = "refusal_reasons"
    if refusal_reasons is None:
        refusal_reasons = []
    if not isinstance(refusal_reasons, list | tuple) or not all(isinstance(c, str) for c in refusal_reasons):
        raise ValidationError({field: 'Give a list of reason codes, e.g. ["U02"].'})
    codes = list(refusal_reasons)
    if final_decision != FinalOutcome.REFUSE:
        if codes:
            raise ValidationError({field: "Only a refusal states refusal reasons: leave them empty to approve."})
        return []
    if not codes:
        most = UNDERWRITER_REASON_MAX
        raise ValidationError(
            {field: f"Choose the principal reasons of the refusal (1 to {most}): the notice lists them."}
        )
    unknown = [c[:12] for c in codes if c not in UNDERWRITER_REASONS]
    if unknown:
        raise ValidationError(
            {field: f"Unknown reason code(s): {', '.join(unknown)}; choose among {', '.join(UNDERWRITER_REASONS)}."}
        )
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise ValidationError({field: f"{', '.join(twice)} given twice: each reason once."})
    if len(codes) > UNDERWRITER_REASON_MAX:
        raise ValidationError({field: f"At most {UNDERWRITER_REASON_MAX} principal reasons."})
    return codes


def _caller_labels(user: User) -> set[str]:
    """The labels a person's API calls are recorded under: ``user:<id>``, and ``oidc:<hash>`` of each of
    their OpenID Connect identities (a bearer token of theirs)."""
    from accounts.principals import oidc_label

    identities = user.oidc_identities.values_list("issuer", "subject")
    return {f"user:{user.pk}", *(oidc_label(issuer, subject) for issuer, subject in identities)}


def review_case_conflict(*, case: ReviewCase, user: ActingUser) -> str | None:
    """Why this person may not work this case (take, be assigned, decide, approve, send back), or ``None``.

    No one reviews their own request, nor their own decision again: the person who asked for the
    decision (its ``caller``: they entered the application), the person who recorded a contest
    the case reviews (they spoke for the applicant), and the people who made the decision under
    review final (its ``decided_by``, and the second approver of that decision: a contest or an
    override reviews what they decided) leave it to a colleague. An API key is the lender's
    system, not a person: its decisions and contests bind no one.
    """
    if user is None:
        return None
    decision = case.decision
    labels = _caller_labels(user)
    if decision.caller in labels:
        return "You asked for this decision: a colleague reviews it, not you."
    if Contest.objects.filter(review_case=case, caller__in=labels).exists():
        return "You recorded the applicant's contest of this decision: a colleague reviews it, not you."
    if decision.decided_by_id == user.pk or (
        decision.decided_by_id is not None
        and ReviewCase.objects.filter(decision=decision, status=ReviewStatus.CLOSED, approved_by=user)
        .exclude(pk=case.pk)
        .exists()
    ):
        return "You took the decision under review: a colleague reviews it again, not you."
    return None


def review_case_can_take(*, case: ReviewCase, user: ActingUser) -> bool:
    """An analyst or admin, while the case is open, unless it is about their own request."""
    return (
        case.status == ReviewStatus.OPEN
        and user is not None
        and bool(user.has_perm(TAKE_PERMISSION))
        and review_case_conflict(case=case, user=user) is None
    )


def review_case_can_close(*, case: ReviewCase, user: ActingUser) -> bool:
    """The assignee (object permission) or an admin (model permission), while it is with someone,
    unless it is about their own request (``review_case_conflict``).

    The assignee only while their role still takes cases: the object permission given on
    assignment outlives a change of role, and someone moved to viewer must not decide.
    """
    return _may_close(case, user) and review_case_conflict(case=case, user=user) is None


def _may_close(case: ReviewCase, user: ActingUser) -> bool:
    """``review_case_can_close`` without the conflict of interest (checked apart where its message is shown)."""
    if case.status != ReviewStatus.ASSIGNED or user is None:
        return False
    return bool(
        user.has_perm(CLOSE_PERMISSION) or (user.has_perm(TAKE_PERMISSION) and user.has_perm(CLOSE_PERMISSION, case))
    )


def review_case_can_approve(*, case: ReviewCase, user: ActingUser) -> bool:
    """Anyone holding the approval permission but the person who proposed the decision, and but
    the one whose request it is about (``review_case_conflict``)."""
    return _may_approve(case, user) and review_case_conflict(case=case, user=user) is None


def _may_approve(case: ReviewCase, user: ActingUser) -> bool:
    """``review_case_can_approve`` without the conflict of interest (checked apart where its message is shown)."""
    return (
        case.status == ReviewStatus.AWAITING_APPROVAL
        and user is not None
        and user.pk != case.proposed_by_id
        and bool(user.has_perm(APPROVE_PERMISSION))
    )


WITHDRAWN_MESSAGE = (
    "This case was withdrawn: its client was erased (GDPR) while it was open. No decision is taken on it and "
    "nothing more is written on it."
)


def _locked(case: ReviewCase) -> ReviewCase:
    """The case, locked after its decision: every write of the loop locks the decision first, then
    the case (a contest and an override request lock the client, the decision, then find or make the case),
    so a contest arriving while an underwriter closes the case waits, never deadlocks.

    A case withdrawn by an erasure, or of a client erased since, takes no write at all
    (``ValidationError`` naming ``client_id``): a justification or a proposal would be new free
    text about a person no GDPR request can reach any more (docs/privacy.md)."""
    list(Decision.objects.select_for_update().filter(pk=case.decision_id).values_list("pk", flat=True))
    locked = ReviewCase.objects.select_for_update(of=("self",)).select_related("decision__client").get(pk=case.pk)
    review_case_writable_check(case=locked)
    return locked


def review_case_writable_check(*, case: ReviewCase) -> None:
    """Nothing is written on a case withdrawn by an erasure, nor on a case of an erased client:
    ``ValidationError`` naming ``client_id`` (the admin shows it)."""
    client = case.decision.client
    if case.status == ReviewStatus.WITHDRAWN or (client is not None and client.erased_at is not None):
        raise ValidationError({"client_id": WITHDRAWN_MESSAGE})


def _is_analyst(user: User | None) -> bool:
    from accounts.services import analysts

    return user is not None and analysts().filter(pk=user.pk).exists()


def _set_assignee(case: ReviewCase, assignee: User, by: User) -> ReviewCase:
    previous = case.assignee
    if previous is not None and previous.pk != assignee.pk:
        remove_perm("close_reviewcase", previous, case)
    case.assignee = assignee
    case.assigned_by = by
    case.assigned_at = timezone.now()
    case.status = ReviewStatus.ASSIGNED
    case.save(update_fields=["assignee", "assigned_by", "assigned_at", "status"])
    assign_perm("close_reviewcase", assignee, case)
    audit_record(
        actor=by,
        action="review.assigned",
        target=case,
        details={"decision": str(case.decision_id), "assignee": f"user:{assignee.pk}"},
    )
    return case


def review_case_take(*, case: ReviewCase, user: User) -> ReviewCase:
    """An analyst takes an unassigned case for themselves (first come, first served)."""
    if not user.has_perm(TAKE_PERMISSION):
        raise PermissionDenied("Your role does not work review cases.")
    with transaction.atomic():
        locked = _locked(case)
        if locked.status != ReviewStatus.OPEN:
            raise ValidationError({"assignee": "This case is already assigned or closed."})
        if (conflict := review_case_conflict(case=locked, user=user)) is not None:
            raise ValidationError({"assignee": conflict})
        return _set_assignee(locked, user, user)


def review_case_assign(*, case: ReviewCase, assignee: User, by: User) -> ReviewCase:
    """An admin gives a case to an analyst; the previous assignee loses the right to close it."""
    if not by.has_perm(ASSIGN_PERMISSION):
        raise PermissionDenied("Only an admin assigns review cases.")
    if not _is_analyst(assignee):
        raise ValidationError({"assignee": "Cases are assigned to active analysts or admins."})
    with transaction.atomic():
        locked = _locked(case)
        if locked.status not in (ReviewStatus.OPEN, ReviewStatus.ASSIGNED):
            raise ValidationError({"assignee": "This case is waiting for an approval or closed."})
        if review_case_conflict(case=locked, user=assignee) is not None:
            raise ValidationError(
                {"assignee": f"{assignee} asked for this decision or recorded its contest: assign a colleague."}
            )
        return _set_assignee(locked, assignee, by)


def review_case_close(
    *,
    case: ReviewCase,
    user: User,
    final_decision: str,
    justification: str,
    refusal_reasons: Any = None,
    contests_seen: int | None = None,
) -> ReviewCase:
    """The assignee (or an admin) decides, with a written justification; a refusal with its
    principal reasons (``refusal_reasons_check``).

    Approving an applicant the model would refuse waits for a second person
    (``review_case_approve``); any other decision is final at once. ``contests_seen``: how
    many of the case's contests the underwriter was shown; when the applicant contested
    again since (a contest joins the open case), nothing is decided: a ``ValidationError``
    naming ``final_decision`` asks them to read it first.
    """
    if final_decision not in FinalOutcome.values:
        raise ValidationError({"final_decision": f"Choose one of: {', '.join(FinalOutcome.values)}."})
    text = (justification or "").strip()
    if not text:
        raise ValidationError({"justification": "Write why: the justification is part of the decision record."})
    if len(text) > JUSTIFICATION_MAX:
        raise ValidationError({"justification": f"At most {JUSTIFICATION_MAX} characters."})
    codes = refusal_reasons_check(final_decision=final_decision, refusal_reasons=refusal_reasons)
    with transaction.atomic():
        locked = _locked(case)
        if locked.status == ReviewStatus.CLOSED:
            raise ValidationError({"final_decision": "This case is already closed."})
        if locked.status == ReviewStatus.AWAITING_APPROVAL:
            raise ValidationError({"final_decision": "This case is waiting for a second approval."})
        if (conflict := review_case_conflict(case=locked, user=user)) is not None:
            raise PermissionDenied(conflict)
        if not _may_close(locked, user):
            raise PermissionDenied("Only the underwriter this case is assigned to, or an admin, closes it.")
        if contests_seen is not None and locked.contests.count() != contests_seen:
            raise ValidationError(
                {"final_decision": "The applicant contested again while you were deciding: read it, then decide."}
            )
        now = timezone.now()
        locked.proposed_decision, locked.justification = final_decision, text
        locked.proposed_by, locked.proposed_at = user, now
        locked.refusal_reasons = codes
        if needs_second_approval(decision=locked.decision, final_decision=final_decision):
            locked.status = ReviewStatus.AWAITING_APPROVAL
            locked.save(update_fields=[*PROPOSAL_FIELDS, "status"])
            audit_record(
                actor=user,
                action="review.proposed",
                target=locked,
                details={"decision": str(locked.decision_id), "proposed": final_decision, "four_eyes": True},
            )
            return locked
        return _finalise(locked, final_decision, decided_by=user, at=now)


def review_case_approve(*, case: ReviewCase, user: User) -> ReviewCase:
    """The second person approves the proposed decision: it becomes final (never the proposer)."""
    with transaction.atomic():
        locked = _locked(case)
        if locked.status != ReviewStatus.AWAITING_APPROVAL:
            raise ValidationError({"approved_by": "This case is not waiting for an approval."})
        if user.pk == locked.proposed_by_id:
            raise PermissionDenied("Four eyes: the person who proposed a decision cannot approve it.")
        if (conflict := review_case_conflict(case=locked, user=user)) is not None:
            raise PermissionDenied(conflict)
        if not _may_approve(locked, user):
            raise PermissionDenied("Your role does not approve overrides.")
        proposer = locked.proposed_by
        if proposer is None:  # a case awaiting approval always has its proposer
            raise ValidationError({"approved_by": "This case has no proposed decision."})
        # The proposal's reasons were checked when proposed; the rule holds whichever way it is made final.
        refusal_reasons_check(final_decision=locked.proposed_decision, refusal_reasons=locked.refusal_reasons)
        now = timezone.now()
        locked.approved_by, locked.approved_at = user, now
        locked.save(update_fields=["approved_by", "approved_at"])
        return _finalise(locked, locked.proposed_decision, decided_by=proposer, at=now, approver=user)


def review_case_send_back(*, case: ReviewCase, user: User) -> ReviewCase:
    """The second person does not approve: the case goes back to its underwriter, the proposal kept in the trail."""
    with transaction.atomic():
        locked = _locked(case)
        if not review_case_can_approve(case=locked, user=user):
            raise PermissionDenied("Only a second approver sends a proposal back.")
        return _proposal_withdraw(locked, actor=user)


def _proposal_withdraw(case: ReviewCase, *, actor: Acting, reason: str | None = None) -> ReviewCase:
    """A proposal awaiting approval goes back to its underwriter (the case locked by the caller)."""
    details = {"decision": str(case.decision_id), "proposed": case.proposed_decision}
    if reason is not None:
        details["reason"] = reason
    audit_record(actor=actor, action="review.sent_back", target=case, details=details)
    case.status = ReviewStatus.ASSIGNED
    case.proposed_decision, case.proposed_by, case.proposed_at = "", None, None
    case.refusal_reasons = []
    case.save(update_fields=["status", "proposed_decision", "refusal_reasons", "proposed_by", "proposed_at"])
    return case


def _finalise(
    case: ReviewCase, final_decision: str, *, decided_by: User, at: datetime, approver: User | None = None
) -> ReviewCase:
    case.status = ReviewStatus.CLOSED
    case.final_decision = final_decision
    case.closed_at = at
    case.save(update_fields=["status", "final_decision", "closed_at", *PROPOSAL_FIELDS])
    Decision.objects.filter(pk=case.decision_id).update(
        final_decision=final_decision, decided_by=decided_by, decided_at=at
    )
    decision = case.decision
    audit_record(
        actor=approver or decided_by,
        action="review.closed",
        target=case,
        details={
            "decision": str(case.decision_id),
            "automated": decision.decision,
            "final": final_decision,
            "overridden": final_decision != decision.decision,
            "decided_by": f"user:{decided_by.pk}",
            "approved_by": f"user:{approver.pk}" if approver is not None else None,
            "refusal_reasons": list(case.refusal_reasons),  # codes of the catalogue, never free text
        },
    )
    transaction.on_commit(lambda: decision_finalised.send(sender=Decision, decision_id=case.decision_id))
    return case


def _erased_check(decision: Decision) -> None:
    """An erased client takes no new data (docs/privacy.md): no override note, no contest statement about
    them. ``ValidationError`` naming ``client_id``."""
    from scoring.services import client_change_check  # scoring.services imports this module

    client_change_check(client=decision.client)


def _decision_locked(decision: Decision) -> Decision:
    """The decision, locked after its client, the client read as committed: an erasure in progress
    (it holds its client ``FOR UPDATE``) is waited for, so a contest or an override note that
    arrives meanwhile sees the client erased and is refused, instead of leaving its text in clear
    beside the kept record. ``FOR NO KEY UPDATE`` on the client: ``/score``'s foreign key checks
    do not wait for it. Client, then decision, then case: the erasure's order too."""
    if decision.client_id is not None:
        list(Client.objects.select_for_update(no_key=True).filter(pk=decision.client_id).values_list("pk", flat=True))
    return Decision.objects.select_for_update(of=("self",)).select_related("client").get(pk=decision.pk)


def review_case_open_override(*, decision: Decision, user: User, note: str) -> ReviewCase:
    """An analyst asks to override an automatic decision: a case opened and assigned to them (left
    open in the queue for a colleague when the decision is their own request: ``review_case_conflict``)."""
    if not user.has_perm(TAKE_PERMISSION):
        raise PermissionDenied("Your role does not work review cases.")
    text = (note or "").strip()
    if not text:
        raise ValidationError({"opening_note": "Say why this decision should be reviewed."})
    if len(text) > OPENING_NOTE_MAX:  # never cut: the record would say less than its author wrote
        raise ValidationError({"opening_note": f"At most {OPENING_NOTE_MAX} characters."})
    with transaction.atomic():
        locked = _decision_locked(decision)
        _erased_check(locked)  # the note is free text about the person
        if (
            locked.final_outcome is None
            or ReviewCase.objects.filter(decision=locked).exclude(status__in=REVIEW_ENDED).exists()
        ):
            raise ValidationError({"decision": "This decision already has an open review case."})
        case = ReviewCase.objects.create(
            decision=locked, origin=ReviewOrigin.OVERRIDE, opened_by=user, opening_note=text
        )
        audit_record(
            actor=user, action="review.opened", target=case, details={"decision": str(locked.pk), "origin": "override"}
        )
        if review_case_conflict(case=case, user=user) is not None:
            return case  # their own request: it waits in the queue for a colleague
        return _set_assignee(case, user, user)


class NotFinal(Exception):
    """The decision is still waiting for a person: nothing to contest yet."""


def contest_record(*, decision: Decision, statement: str, caller: str, user: Acting = None) -> Contest:
    """Record an applicant's contest of a final decision and put the decision back in the queue.

    Opens a review case (``origin=contest``), or attaches the contest to the case already
    open. A proposal awaiting its second approval was made without the applicant's new
    words: it goes back to its underwriter (``review.sent_back``, reason ``contested``), so
    no one approves a decision its proposer took without everything the applicant said.
    Raises ``ValidationError`` naming ``statement`` for an empty or too long text,
    ``NotFinal`` while the decision is still pending a first review, ``ValidationError`` naming
    ``client_id`` when the decision's client was erased (the statement would be the person's
    words added to the anonymous anchor, where no request could erase them).
    """
    text = (statement or "").strip()
    if not text:
        raise ValidationError({"statement": "Write what the applicant contests."})
    if len(text) > JUSTIFICATION_MAX:
        raise ValidationError({"statement": f"At most {JUSTIFICATION_MAX} characters."})
    with transaction.atomic():
        locked = _decision_locked(decision)
        _erased_check(locked)
        if locked.final_outcome is None:
            raise NotFinal("This decision is still waiting for an underwriter: it is not final yet.")
        # Locked after the decision, as every write of the loop does: a proposal may be dropped below.
        case = (
            ReviewCase.objects.select_for_update(of=("self",))
            .filter(decision=locked)
            .exclude(status__in=REVIEW_ENDED)
            .first()
        )
        if case is None:
            case = ReviewCase.objects.create(decision=locked, origin=ReviewOrigin.CONTEST)
        elif case.status == ReviewStatus.AWAITING_APPROVAL:
            _proposal_withdraw(case, actor=user, reason="contested")
        contest = Contest.objects.create(decision=locked, statement=text, review_case=case, caller=caller[:100])
        audit_record(
            actor=user,
            action="decision.contested",
            target=contest,
            details={"decision": str(locked.pk), "review_case": case.pk, "caller": caller[:100]},
        )
    return contest


def review_cases_withdraw(*, client: Client, actor: User | str, now: datetime) -> int:
    """Withdraw the client's cases not yet closed: called by the erasure, in its transaction,
    before the erasure engine (docs/privacy.md). Returns how many were withdrawn.

    An erasure request ends the person's application: no decision is taken on it any more,
    and none could be written without new free text about a person no request reaches. Each
    case is closed as ``withdrawn``: no final decision, a four-eyes proposal awaiting its second
    approval dropped (the audit trail keeps who proposed what), the assignee's right to close it
    removed. The decision keeps what stands (a referral stays undecided; an earlier final decision
    stays final). A referral's caller is told: one ``decision.withdrawn`` webhook delivery per
    active webhook, stored here and sent once the erasure commits (``decision_withdrawn_webhooks_queue``);
    a decision that stays final sends nothing. One ``review.withdrawn`` event per case names the decision
    and the reason, never the erasure request (which must not lead to the kept records).
    Locks the decisions, then the cases, as every write of the loop does.
    """
    open_cases = ReviewCase.objects.filter(decision__client=client).exclude(status__in=REVIEW_ENDED)
    decision_ids = list(open_cases.values_list("decision_id", flat=True))
    if not decision_ids:
        return 0
    list(Decision.objects.select_for_update().filter(pk__in=decision_ids).values_list("pk", flat=True))
    cases = list(
        ReviewCase.objects.select_for_update(of=("self",))
        .select_related("assignee", "decision")
        .filter(decision_id__in=decision_ids)
        .exclude(status__in=REVIEW_ENDED)
        .order_by("pk")
    )
    for case in cases:
        dropped = case.status == ReviewStatus.AWAITING_APPROVAL
        if case.assignee is not None:
            remove_perm("close_reviewcase", case.assignee, case)
        case.status = ReviewStatus.WITHDRAWN
        case.closed_at = now
        case.proposed_decision, case.justification, case.proposed_by, case.proposed_at = "", "", None, None
        case.refusal_reasons = []
        case.save(update_fields=["status", "closed_at", *PROPOSAL_FIELDS])
        audit_record(
            actor=actor,
            action="review.withdrawn",
            target=case,
            details={"decision": str(case.decision_id), "reason": "client_erased", "proposal_dropped": dropped},
        )
    decision_withdrawn_webhooks_queue(decisions=[case.decision for case in cases], withdrawn_at=now)
    return len(cases)
