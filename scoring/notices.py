"""Adverse-action notices: the principal reasons of a final refusal, in words an applicant reads.

ECOA / Regulation B §1002.9 asks for the principal reasons of an adverse action; GDPR
Art. 22(3) for the right to human intervention and to contest. The reasons are the actual
ones: when a person refused through a review case and stated its principal reasons (codes of
``scoring.reasons.UNDERWRITER_REASONS``), those, in the order given; otherwise the decision's
stored TreeSHAP reasons (``scoring.reasons``), which is also what a case closed before the
underwriters stated reasons falls back to. Stable codes, plain sentences, never a raw
feature name, a missing value shown as ``null`` or an underwriter's free text.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from scoring.choices import CreditDecisionOutcome
from scoring.models import Decision
from scoring.reasons import plain_reasons
from scoring.review.selectors import pending_review_ids, persons_refusal_reasons

NOTICE_REASON_COUNT = 4

RIGHTS = [
    "You have the right to obtain a review of this decision by a person, to express your point of view "
    "and to contest the decision (GDPR Art. 22(3)).",
    "You have the right to know the principal reasons for this decision: they are listed above "
    "(Equal Credit Opportunity Act, Regulation B §1002.9).",
    "To ask for a review or to contest the decision, contact us with the reference below.",
]


class NoNotice(Exception):
    """Only a final refusal has an adverse-action notice."""


def decision_notice(*, decision: Decision) -> dict[str, Any]:
    """The notice of a final refusal, as data (the API's JSON; the HTML page renders the same)."""
    if decision.final_outcome != CreditDecisionOutcome.REFUSE or pending_review_ids([decision.pk]):
        raise NoNotice("Only a final refusal has an adverse-action notice.")
    reasons = persons_refusal_reasons(decision)[:NOTICE_REASON_COUNT] or plain_reasons(
        decision.model_version.feature_schema, decision.reasons, limit=NOTICE_REASON_COUNT
    )
    decided_at = decision.decided_at or decision.created_at
    return {
        "decision_id": str(decision.pk),
        "reference": str(decision.pk),
        "decision": "refuse",
        "date": timezone.localdate(decided_at).isoformat(),
        "decided_by": "person" if decision.decided_by_id else "automated",
        "reasons": [{"code": r.code, "title": r.title, "sentence": r.sentence} for r in reasons],
        "lender": {"name": settings.CREDIT_NOTICE_LENDER_NAME, "contact": settings.CREDIT_NOTICE_LENDER_CONTACT},
        "rights": RIGHTS,
    }
