"""Reason codes in plain words: a stable code per feature of a schema, and a sentence for the applicant.

A feature's code is ``R`` and its position in the model's schema (``R03`` is the third
feature: ``historique_impaye``, "Past payment incidents", in the default model), so a code
never changes for a given model version. A missing input is never worded as a property of
the person: it reads "Insufficient information: ...".

An underwriter who refuses states their own principal reasons instead: ``UNDERWRITER_REASONS``,
a fixed catalogue of ``U`` codes in the same shape (docs/review.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Applicant-facing sentences of the default model's features (other schemas get the generic one).
SENTENCES: dict[str, str] = {
    "age": "Your age, as scored by the model, weighed against the application.",
    "revenu": "Your income is low compared with the credit requested.",
    "historique_impaye": "Past payment incidents are recorded.",
    "seniority_years": "Your time with your current employer is short.",
    "home": "Your housing situation weighed against the application.",
    "duration_months": "The duration of the loan requested weighed against the application.",
    "marital_status": "Your household situation weighed against the application.",
    "job": "Your type of employment weighed against the application.",
    "expenses": "Your regular expenses are high compared with your income.",
    "assets": "Your assets are low compared with the credit requested.",
    "debt": "Your current debt is high.",
    "amount": "The amount requested is high compared with your situation.",
    "price": "The price of the goods financed weighed against the application.",
}


@dataclass(frozen=True)
class PlainReason:
    code: str  # e.g. "R03"
    title: str  # e.g. "Past payment incidents", or "Insufficient information: Past payment incidents"
    sentence: str  # for the applicant
    missing: bool

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "sentence": self.sentence, "missing": self.missing}


def reason_code(schema: list[dict[str, Any]], feature: str) -> str:
    names = [f["name"] for f in schema]
    return f"R{names.index(feature) + 1:02d}" if feature in names else "R00"


def _label(schema: list[dict[str, Any]], feature: str) -> str:
    for f in schema:
        if f["name"] == feature:
            return str(f.get("label") or feature.replace("_", " ").capitalize())
    return feature.replace("_", " ").capitalize()


def plain_reasons(
    schema: list[dict[str, Any]], reasons: list[dict[str, Any]], *, adverse_only: bool = True, limit: int = 4
) -> list[PlainReason]:
    """The stored reasons of a decision in words: the ones that raised the risk, largest first."""
    out: list[PlainReason] = []
    for reason in reasons:
        if adverse_only and float(reason.get("contribution") or 0) <= 0:
            continue
        feature = str(reason.get("feature"))
        label = _label(schema, feature)
        code = reason_code(schema, feature)
        if reason.get("value") is None:
            out.append(
                PlainReason(
                    code,
                    f"Insufficient information: {label}",
                    f"Insufficient information: we did not have your {label[:1].lower() + label[1:]}.",
                    True,
                )
            )
        else:
            out.append(
                PlainReason(code, label, SENTENCES.get(feature, f"{label} weighed against the application."), False)
            )
        if len(out) >= limit:
            break
    return out


# The underwriters' adverse-action reasons (docs/review.md#the-underwriters-refusal-reasons): what a
# person who refuses a credit states as its principal reasons (ECOA / Regulation B §1002.9), after the
# sample reasons of Regulation B's form C-1. Codes are stable: never renumbered or reused, only added
# (a stored case keeps its codes for as long as the decision is kept). Codes, never free text: the
# notice says nothing an underwriter typed about the person.
UNDERWRITER_REASONS: dict[str, tuple[str, str]] = {
    "U01": (
        "Incomplete application",
        "Your application was incomplete: information or documents we asked for were not provided.",
    ),
    "U02": ("Unable to verify income", "We were unable to verify your income from the documents provided."),
    "U03": ("Unable to verify employment", "We were unable to verify your employment."),
    "U04": ("Unable to verify identity", "We were unable to verify your identity."),
    "U05": (
        "Inconsistent or unreliable documents",
        "Documents provided were inconsistent with each other or with your application, or could not be relied on.",
    ),
    "U06": (
        "Income insufficient for the amount of credit requested",
        "Your income is not sufficient for the amount of credit requested.",
    ),
    "U07": (
        "Excessive obligations in relation to income",
        "Your existing obligations are too high in relation to your income.",
    ),
    "U08": (
        "Delinquent past or present credit obligations",
        "You have been late or in default on past or present credit obligations.",
    ),
    "U09": ("Temporary or irregular employment", "Your employment is temporary or your income irregular."),
    "U10": (
        "Collection action, judgment or insolvency",
        "A collection action, a court judgment or an insolvency procedure is recorded against you.",
    ),
}
UNDERWRITER_REASON_MAX = 4  # Regulation B: the principal reasons; more would dilute them


def underwriter_reasons(codes: list[str]) -> list[PlainReason]:
    """A case's refusal reasons in words, in the order the underwriter gave them (unknown codes skipped)."""
    return [PlainReason(code, *UNDERWRITER_REASONS[code], False) for code in codes if code in UNDERWRITER_REASONS]


def underwriter_reason_choices() -> list[tuple[str, str]]:
    """The catalogue as form choices: ``("U02", "U02 Unable to verify income")``."""
    return [(code, f"{code} {title}") for code, (title, _) in UNDERWRITER_REASONS.items()]
