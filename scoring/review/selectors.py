"""Reads of the review queue: what a case page shows, in plain words."""

from __future__ import annotations

from typing import Any

from scoring.choices import REVIEW_ENDED, FinalOutcome, ReviewOrigin, ReviewStatus
from scoring.models import Decision, ReviewCase
from scoring.reasons import PlainReason, underwriter_reasons


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def band_position(decision: Decision) -> str:
    """Where the score sits against the threshold and the version's refer band, in words."""
    version = decision.model_version
    p, threshold = decision.probability_default, decision.threshold_used
    side = "at or above" if p >= threshold else "below"
    text = f"{pct(p)}, {side} the threshold of {pct(threshold)}"
    if version.refer_lower is None or version.refer_upper is None:
        return f"{text}; this version has no refer band."
    lower, upper = version.refer_lower, version.refer_upper
    if lower <= p <= upper:
        width = upper - lower
        where = f"{(p - lower) / width:.0%} of the way up" if width > 0 else "on it"
        return f"{text}; inside the refer band {pct(lower)}–{pct(upper)} ({where})."
    return f"{text}; outside the refer band {pct(lower)}–{pct(upper)} (referred for missing information)."


def shadow_opinion(decision: Decision) -> str:
    challenger = decision.shadow_model_version
    if challenger is None:
        return "No challenger model was scoring in shadow."
    if decision.shadow_probability is None:
        return f"The challenger ({challenger.version}) could not take these inputs."
    verdict = "refuse" if decision.shadow_prediction else "approve"
    return (
        f"The challenger ({challenger.version}) would {verdict}: "
        f"probability of default {pct(decision.shadow_probability)}."
    )


def earlier_decisions(decision: Decision, limit: int = 10) -> list[Decision]:
    """The same client's other decisions, newest first (none for an anonymous applicant)."""
    if decision.client_id is None:
        return []
    return list(
        Decision.objects.filter(client_id=decision.client_id, created_at__lt=decision.created_at)
        .select_related("model_version")
        .order_by("-created_at")[:limit]
    )


def pending_review_ids(decision_ids: list[Any]) -> set[Any]:
    """Which of these decisions have a case not yet closed (nor withdrawn)."""
    return set(
        ReviewCase.objects.filter(decision_id__in=decision_ids)
        .exclude(status__in=REVIEW_ENDED)
        .values_list("decision_id", flat=True)
    )


def review_withdrawn(decision: Decision) -> bool:
    """Whether a review of this decision was withdrawn by the erasure of its client."""
    return ReviewCase.objects.filter(decision=decision, status=ReviewStatus.WITHDRAWN).exists()


def persons_refusal_reasons(decision: Decision) -> list[PlainReason]:
    """The reasons the underwriter stated when their refusal is the decision that stands, else none.

    The one reading of "which case's reasons stand", for the adverse-action notice, the
    decision's detail and the ``decision.final`` webhook alike (docs/review.md). The case that
    made the final decision is the decision's last closed case (a withdrawn one decided
    nothing; a case reopened by a contest and decided again replaces the earlier one). A
    decision no person decided has none; so has one whose standing decision is a person's
    approval, and one closed before reasons were asked for (``refusal_reasons`` empty: the
    notice then gives the model's reasons, as it always did). One query, none for a decision
    no person decided.
    """
    if decision.decided_by_id is None:
        return []
    case = (
        ReviewCase.objects.filter(decision=decision, status=ReviewStatus.CLOSED)
        .order_by("-closed_at", "-pk")
        .only("final_decision", "refusal_reasons")
        .first()
    )
    if case is None or case.final_decision != FinalOutcome.REFUSE or not isinstance(case.refusal_reasons, list):
        return []
    return underwriter_reasons([str(code) for code in case.refusal_reasons])


def refusal_reasons_shown(decision: Decision) -> list[dict[str, str]]:
    """``persons_refusal_reasons`` as the API and the webhook show them: code and catalogue text, in the
    underwriter's order (the notice's shape of a reason; never free text)."""
    return [{"code": r.code, "title": r.title, "sentence": r.sentence} for r in persons_refusal_reasons(decision)]


def review_figures(*, start: Any, end: Any, now: Any) -> dict[str, Any]:
    """The review loop on the dashboard: referral rate, overrides by direction, time to decision, cases waiting.

    Rates are over the decisions made in [start, end); the cases waiting are counted now.
    """
    from datetime import timedelta

    from django.db.models import Count, Q

    from scoring.choices import CreditDecisionOutcome as Outcome

    period = Decision.objects.filter(created_at__gte=start, created_at__lt=end)
    counts = period.aggregate(
        n=Count("pk"),
        referred=Count("pk", filter=Q(decision=Outcome.REFER)),
        approved=Count("pk", filter=Q(decision=Outcome.APPROVE)),
        refused=Count("pk", filter=Q(decision=Outcome.REFUSE)),
        approve_to_refuse=Count("pk", filter=Q(decision=Outcome.APPROVE, final_decision=Outcome.REFUSE)),
        refuse_to_approve=Count("pk", filter=Q(decision=Outcome.REFUSE, final_decision=Outcome.APPROVE)),
    )
    # From the referral's creation to its own case's closing: the decision's ``decided_at`` moves
    # when a contest or an override is decided later (weeks after), the referral's wait does not.
    referral_cases = ReviewCase.objects.filter(
        origin=ReviewOrigin.REFERRED,
        status=ReviewStatus.CLOSED,
        decision__decision=Outcome.REFER,
        decision__created_at__gte=start,
        decision__created_at__lt=end,
    )
    waits = sorted(
        (closed - created).total_seconds()
        for created, closed in referral_cases.values_list("decision__created_at", "closed_at")
        if closed is not None  # a closed case has its time (a check constraint); the column is nullable
    )

    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    def quantile(q: float) -> timedelta | None:
        return timedelta(seconds=waits[min(int(q * len(waits)), len(waits) - 1)]) if waits else None

    open_cases = ReviewCase.objects.exclude(status__in=REVIEW_ENDED)
    oldest = open_cases.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "decisions": counts["n"],
        "referral_rate": rate(counts["referred"], counts["n"]),
        "referred": counts["referred"],
        "override_refuse_to_approve": rate(counts["refuse_to_approve"], counts["refused"]),
        "override_approve_to_refuse": rate(counts["approve_to_refuse"], counts["approved"]),
        "overrides": counts["refuse_to_approve"] + counts["approve_to_refuse"],
        "decided_referrals": len(waits),
        "time_to_decision_median": quantile(0.5),
        "time_to_decision_p90": quantile(0.9),
        "cases_waiting": open_cases.count(),
        "cases_awaiting_approval": open_cases.filter(status=ReviewStatus.AWAITING_APPROVAL).count(),
        "oldest_waiting": (now - oldest) if oldest else None,
    }


def duration(value: Any) -> str:
    """A timedelta for people: 3 d 4 h, 2 h 05 min, 12 min, 40 s."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{secs} s"
