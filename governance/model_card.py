"""A model version's model card (AI Act Art. 11 technical documentation), as Markdown or HTML.

One structure (``model_card``: titled sections of paragraphs and tables), two renderings:
``model_card_markdown`` and the admin's HTML template. Everything comes from the registry
and the governance records: data set, features, training parameters, hold-out metrics,
threshold and cost, decision bands, fairness, performance on matured labels, known limits,
and who requested and approved each promotion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Max

from governance.models import FairnessBasis, FairnessReport, PerformanceReport, PromotionRequest, refer_band_label
from scoring.selectors import refer_band_text, referral_rate


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else "–"
    return str(value)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:.1%}"


def latest_fairness_reports(version: Any) -> list[Any]:
    """The version's latest fairness reports: every feature's on the latest day it was reported on
    its decisions, and on its training hold-out set (evidence of another kind, kept beside)."""
    reports = FairnessReport.objects.filter(model_version=version)
    latest = []
    for holdout in (False, True):
        mine = reports.filter(basis=FairnessBasis.HOLDOUT) if holdout else reports.exclude(basis=FairnessBasis.HOLDOUT)
        day = mine.aggregate(day=Max("as_of"))["day"]
        if day is not None:
            latest += list(mine.filter(as_of=day).order_by("basis", "feature"))
    return latest


def model_card(version: Any) -> tuple[str, list[Section]]:
    """(title, sections) of a version's card."""
    m = version.metrics or {}
    sections = []
    sections.append(
        Section(
            "Identity",
            headers=["", ""],
            rows=[
                ["Purpose", version.purpose],
                ["Version", version.version],
                ["Status", version.status],
                ["Model file SHA-256", version.sha256],
                ["Registered", f"{version.created_at:%Y-%m-%d %H:%M} UTC"],
                ["Activated", f"{version.activated_at:%Y-%m-%d %H:%M} UTC" if version.activated_at else "never"],
                ["Algorithm", "LightGBM gradient-boosted trees, binary objective; reasons by TreeSHAP"],
            ],
        )
    )
    sections.append(
        Section(
            "Data set",
            paragraphs=[version.dataset or "Not recorded."],
            headers=["", ""],
            rows=[
                ["Training rows", _fmt(m.get("n_train"))],
                ["Hold-out rows", _fmt(m.get("n_test"))],
                ["Share of defaults", _pct(m.get("positive_rate"))],
            ],
        )
    )
    sections.append(
        Section(
            "Features",
            paragraphs=["In the model's column order; a missing optional feature is a missing value for the model."],
            headers=["Feature", "Label", "Type", "Range or categories", "Required", "Fairness"],
            rows=[
                [
                    f["name"],
                    f.get("label", ""),
                    f.get("type", ""),
                    ", ".join(f.get("categories", [])) or f"{_fmt(f.get('min'))} – {_fmt(f.get('max'))}",
                    "yes" if f.get("required") else "no",
                    f.get("fairness", "") or "",
                ]
                for f in version.feature_schema
            ],
        )
    )
    params = m.get("params") or {}
    sections.append(
        Section(
            "Training parameters",
            headers=["Parameter", "Value"],
            rows=[
                ["seed", _fmt(m.get("seed"))],
                ["trees", _fmt(m.get("num_trees"))],
                ["missing-value rate in training", _fmt(m.get("missing_rate"))],
            ]  # fmt: skip
            + [[k, _fmt(v)] for k, v in sorted(params.items())],
        )
    )
    confusion = m.get("confusion_matrix") or {}
    sections.append(
        Section(
            "Hold-out metrics",
            headers=["Metric", "Value"],
            rows=[
                ["AUC", _fmt(m.get("auc"))],
                ["Gini", _fmt(m.get("gini"))],
                ["KS", _fmt(m.get("ks"))],
                ["Cross-validated AUC", _fmt(m.get("cv_auc"))],
                ["AUC with the required features only", _fmt(m.get("auc_required_only"))],
                [
                    "Confusion at the threshold (TP, FP, TN, FN)",
                    ", ".join(
                        _fmt(confusion.get(k))
                        for k in ("true_positive", "false_positive", "true_negative", "false_negative")
                    ),
                ],
            ],  # fmt: skip
        )
    )
    figures = referral_rate(model_version=version)
    referrals = (
        f"{_pct(figures['rate'])} ({figures['referred']} of {figures['decisions']})"
        if figures["decisions"]
        else "no decisions yet"
    )
    sections.append(
        Section(
            "Threshold, cost and decision bands",
            paragraphs=[
                f"Refused at or above a probability of default of {version.threshold:g} (risk level HIGH); MEDIUM from "
                f"{settings.SCORE_MEDIUM_RISK_FRACTION:g} of the threshold; LOW below. The threshold minimised the "
                "business cost of out-of-fold predictions at training."
            ],
            headers=["", ""],
            rows=[
                ["Cost of a default accepted (false negative)", _fmt(m.get("cost_false_negative"))],
                ["Cost of a good applicant refused (false positive)", _fmt(m.get("cost_false_positive"))],
                ["Business cost per hold-out application", _fmt(m.get("business_cost_per_application"))],
                ["Refusal rate on the hold-out set", _pct(m.get("refusal_rate"))],
                ["Refer band (referred to an underwriter)", refer_band_text(version)],
                [
                    "Also referred when the missing features carry more of the model's importance than",
                    _pct(settings.SCORE_REFER_MISSING_SHARE) if version.has_refer_band else "–",
                ],
                ["Referral rate of its decisions", referrals],
            ],
        )
    )
    fairness = latest_fairness_reports(version)
    if fairness:
        rows = []
        for r in fairness:
            for g in r.groups:
                report = f"{r.feature} ({r.get_basis_display()}, {r.as_of})"
                rates = [_pct(g["approval_rate"]), _pct(g["ratio"]), _pct(g.get("tpr")), _pct(g.get("fpr"))]
                rows.append([report, g["group"], g["n"], *rates])
        findings = [
            f"{f} ({r.feature}, {r.get_basis_display().lower()}, {r.as_of})" for r in fairness for f in r.findings
        ]
        sections.append(
            Section(
                "Fairness",
                paragraphs=(["DISPARITY: " + f for f in findings] or ["No disparity above the configured limits."]),
                headers=["Report", "Group", "Rows", "Approval rate", "Ratio", "TPR", "FPR"],
                rows=rows,
            )
        )
    else:
        sections.append(Section("Fairness", paragraphs=["No fairness report yet: python manage.py fairness_report."]))
    performance = list(PerformanceReport.objects.filter(model_version=version).order_by("-as_of")[:3])
    sections.append(
        Section(
            "Performance on matured labels",
            paragraphs=[] if performance else ["No report yet: python manage.py performance_report."],
            headers=["As of", "Basis", "Matured", "Immature", "AUC", "Brier", "PSI"] if performance else [],
            rows=[
                [
                    r.as_of,
                    r.basis,
                    r.matured,
                    r.immature,
                    _fmt(r.metrics.get("auc")) if r.sufficient else "too few",
                    _fmt(r.metrics.get("brier")),
                    _fmt(r.metrics.get("psi")),
                ]
                for r in performance
            ],  # fmt: skip
        )
    )
    sections.append(
        Section(
            "Known limits",
            paragraphs=[
                "Trained on one lender's historical applicants: outside that population (other markets, products, "
                "periods) its figures do not carry over; the drift report and the performance report watch for it.",
                "Refused applicants get no loan and so no outcome: performance on matured labels describes the "
                "approved ones mostly (no reject inference).",
                f"With only the required features the hold-out AUC falls to {_fmt(m.get('auc_required_only'))}.",
                "Features marked sensitive or proxy are model inputs: check the fairness section before use.",
            ],
        )
    )
    promotions = PromotionRequest.objects.filter(model_version=version).select_related("requested_by", "decided_by")
    sections.append(
        Section(
            "Approvals",
            paragraphs=[f"Activated by: {version.activated_by or 'the platform (training command) or nobody'}."],
            headers=["Request", "Role or change", "Requested by", "Decided by", "Status", "Four eyes", "Decided"],
            rows=[
                [
                    f"#{p.pk}",
                    p.target_status or f"refer band {refer_band_label(p.proposed_values)}",
                    str(p.requested_by or "–"),
                    str(p.decided_by or "–"),
                    p.status,
                    "yes" if p.four_eyes else "no",
                    f"{p.decided_at:%Y-%m-%d}" if p.decided_at else "–",
                ]
                for p in promotions.order_by("requested_at")
            ],  # fmt: skip
        )
    )
    return f"Model card: {version.purpose} {version.version}", sections


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def model_card_markdown(version: Any) -> str:
    title, sections = model_card(version)
    lines = [f"# {title}", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for p in s.paragraphs:
            lines += [p, ""]
        if s.rows:
            lines.append("| " + " | ".join(_cell(h) for h in s.headers) + " |")
            lines.append("|" + "---|" * len(s.headers))
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in s.rows]
            lines.append("")
    return "\n".join(lines)
