"""The admin's front page (django-unfold ``DASHBOARD_CALLBACK``): key figures and charts.

For viewers, analysts and admins (compliance officers see the plain app index). Every
figure is aggregated in the database over the chosen range (at most ``MAX_DAYS`` days),
on indexed timestamp columns; the charts are drawn by the Chart.js that unfold serves
itself, so nothing is loaded from the internet.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from accounts.roles import READ_ROLES, user_roles
from monitoring import selectors

DEFAULT_DAYS = 7
MAX_DAYS = 92
HOURLY_UP_TO_DAYS = 7  # longer ranges are drawn per day

PRIMARY, GREY, RED, ORANGE = "var(--color-primary-600)", "var(--color-base-400)", "#dc2626", "#ea580c"


def dashboard_visible(user: Any) -> bool:
    """Viewers and up see the dashboard (it shows business figures, not personal data)."""
    return bool(user_roles(user) & READ_ROLES)


class PeriodForm(forms.Form):
    """The date range of the charts (UTC days, both included)."""

    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        # Tomorrow (UTC) is today somewhere; beyond, nothing has happened yet (and 9999-12-31
        # has no next day to end the range at).
        if end and end > self.today + timedelta(days=1):
            self.add_error("end", "The last day is in the future.")
        if start and end:
            if start > end:
                self.add_error("end", "The last day is before the first.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("start", f"At most {MAX_DAYS} days at a time.")
        return data


def _period(request: HttpRequest, today: date) -> tuple[PeriodForm, date, date]:
    default = {"start": today - timedelta(days=DEFAULT_DAYS - 1), "end": today}
    form = PeriodForm(request.GET if {"start", "end"} & set(request.GET) else None, initial=default, today=today)
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["start"], form.cleaned_data["end"]
    return form, default["start"], default["end"]


def _buckets(start: datetime, end: datetime, period: str) -> list[datetime]:
    step = timedelta(hours=1) if period == "hour" else timedelta(days=1)
    out, at = [], start
    while at < end:
        out.append(at)
        at += step
    return out


def _label(at: datetime, period: str) -> str:
    return at.strftime("%d %b %Hh") if period == "hour" else at.strftime("%d %b")


def _chart(labels: list[str], datasets: list[dict[str, Any]]) -> str:
    return json.dumps({"labels": labels, "datasets": datasets})


def drift_chart_options(aspect: float = 2.2) -> str:
    return _options(max_y=100, suffix="%", aspect=aspect)


def _options(
    *, legend: bool = True, stacked: bool = False, suffix: str = "", max_y: float | None = None, aspect: float = 2.2
) -> str:
    axis: dict[str, Any] = {"beginAtZero": True, "ticks": {"color": "#9ca3af"}, "grid": {"display": False}}
    y = {**axis, "stacked": stacked}
    if max_y is not None:
        y["max"] = max_y
    if suffix:
        y["title"] = {"display": True, "text": suffix, "color": "#9ca3af"}
    return json.dumps(
        {
            "aspectRatio": aspect,
            "plugins": {"legend": {"display": legend, "align": "end", "labels": {"boxWidth": 10}}},
            "scales": {"x": {**axis, "stacked": stacked, "ticks": {"color": "#9ca3af", "maxTicksLimit": 12}}, "y": y},
        }
    )


def drift_history_chart(history: list[dict[str, Any]], days: list[date] | None = None) -> str:
    """Chart.js data (unfold's line chart): drifted share per day and purpose, and the alert threshold."""
    days = days if days is not None else sorted({row["day"] for row in history})
    purposes = sorted({row["purpose"] for row in history})
    colors = {"credit": "var(--color-primary-600)", "fraud": "var(--color-base-500)"}
    by_key = {(row["day"], row["purpose"]): row for row in history}
    datasets: list[dict[str, Any]] = [
        {
            "label": f"{purpose}: drifted share (%)",
            "data": [
                None
                if (row := by_key.get((day, purpose))) is None or row["drift_share"] is None
                else round(row["drift_share"] * 100, 1)
                for day in days
            ],
            "borderColor": colors.get(purpose, "var(--color-primary-400)"),
            "backgroundColor": colors.get(purpose, "var(--color-primary-400)"),
            "pointStyle": "circle",  # one report a day: each is a point worth seeing
            "pointRadius": 3,
            "spanGaps": True,
            "displayYAxis": True,
            "suffixYAxis": "%",
        }
        for purpose in purposes
    ]
    if history:
        datasets.append(
            {
                "label": "alert threshold (%)",
                "data": [round(history[-1]["alert_threshold"] * 100, 1)] * len(days),
                "borderColor": "#dc2626",
                "borderDash": [6, 4],
            }
        )
    return json.dumps({"labels": [day.isoformat() for day in days], "datasets": datasets})


def dashboard_data(*, start_day: date, end_day: date, now: datetime) -> dict[str, Any]:
    """Everything the front page draws, for the days ``start_day``..``end_day`` (UTC)."""
    start = datetime.combine(start_day, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(end_day, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    period = "hour" if (end_day - start_day).days + 1 <= HOURLY_UP_TO_DAYS else "day"
    buckets = _buckets(start, end, period)
    labels = [_label(b, period) for b in buckets]

    volume = {row["bucket"]: row for row in selectors.decision_volume(start=start, end=end, period=period)}
    decisions = [volume.get(b, {}).get("decisions", 0) for b in buckets]
    approval = [
        round(100 * row["approved"] / row["decisions"], 1) if (row := volume.get(b)) and row["decisions"] else None
        for b in buckets
    ]
    api = {row["bucket"]: row for row in selectors.api_latency_and_errors(start=start, end=end, period=period)}

    def api_series(key: str) -> list[float | None]:
        return [None if (row := api.get(b)) is None or row[key] is None else round(row[key], 2) for b in buckets]

    def error_share(key: str) -> list[float | None]:
        return [round(100 * row[key] / row["calls"], 2) if (row := api.get(b)) else None for b in buckets]

    bins = selectors.score_distribution(start=start, end=end)
    width = 1 / len(bins)
    alerts = selectors.fraud_alerts_by_decision(start=start, end=end)
    days = _buckets(start, end, "day")
    by_day: dict[tuple[Any, str], int] = {(row["bucket"], row["fraud_check__decision"]): row["n"] for row in alerts}
    unit = "per hour" if period == "hour" else "per day"
    charts = [
        {
            "id": "chart-decisions",
            "title": f"Credit decisions {unit}",
            "type": "bar",
            "data": _chart(labels, [{"label": "decisions", "data": decisions, "backgroundColor": PRIMARY}]),
            "options": _options(legend=False),
            "total": sum(decisions),
        },
        {
            "id": "chart-approval",
            "title": f"Approval rate {unit} (%)",
            "type": "line",
            "data": _chart(
                labels, [{"label": "approved (%)", "data": approval, "borderColor": PRIMARY, "spanGaps": True}]
            ),
            "options": _options(legend=False, max_y=100, suffix="%"),
            "total": sum(x is not None for x in approval),
        },
        {
            "id": "chart-scores",
            "title": "Distribution of the probability of default",
            "type": "bar",
            "data": _chart(
                [f"{i * width:.2f}–{(i + 1) * width:.2f}" for i in range(len(bins))],
                [{"label": "decisions", "data": bins, "backgroundColor": PRIMARY}],
            ),
            "options": _options(legend=False),
            "total": sum(bins),
        },
        {
            "id": "chart-latency",
            "title": f"API latency {unit}: p50, p95, p99 (ms)",
            "type": "line",
            "data": _chart(
                labels,
                [
                    {"label": "p50", "data": api_series("p50"), "borderColor": GREY, "spanGaps": True},
                    {"label": "p95", "data": api_series("p95"), "borderColor": PRIMARY, "spanGaps": True},
                    {"label": "p99", "data": api_series("p99"), "borderColor": RED, "spanGaps": True},
                ],
            ),
            "options": _options(suffix="ms"),
            "total": sum(row["calls"] for row in api.values()),
        },
        {
            "id": "chart-errors",
            "title": f"API error rate {unit} (% of calls)",
            "type": "line",
            "data": _chart(
                labels,
                [
                    {"label": "4xx", "data": error_share("client_errors"), "borderColor": ORANGE, "spanGaps": True},
                    {"label": "5xx", "data": error_share("server_errors"), "borderColor": RED, "spanGaps": True},
                ],
            ),
            "options": _options(suffix="%"),
            "total": sum(row["calls"] for row in api.values()),
        },
        {
            "id": "chart-fraud-alerts",
            "title": "Fraud alerts per day, by decision",
            "type": "bar",
            "data": _chart(
                [_label(d, "day") for d in days],
                [
                    {
                        "label": "review",
                        "data": [by_day.get((d, "review"), 0) for d in days],
                        "backgroundColor": ORANGE,
                    },
                    {"label": "block", "data": [by_day.get((d, "block"), 0) for d in days], "backgroundColor": RED},
                ],
            ),
            "options": _options(stacked=True),
            "total": sum(by_day.values()),
        },
    ]
    history = selectors.drift_history(start=start_day, end=end_day)
    charts.append(
        {
            "id": "chart-drift",
            "title": "Drift history: share of drifted features (%)",
            "type": "line",
            "data": drift_history_chart(history, [d.date() for d in days]),
            "options": drift_chart_options(),
            "total": len(history),
        }
    )
    from scoring.review.selectors import duration, review_figures

    review = review_figures(start=start, end=min(end, now + timedelta(seconds=1)), now=now)
    review["time_to_decision_median_text"] = duration(review["time_to_decision_median"])
    review["time_to_decision_p90_text"] = duration(review["time_to_decision_p90"])
    review["oldest_waiting_text"] = duration(review["oldest_waiting"])
    for key in ("referral_rate", "override_refuse_to_approve", "override_approve_to_refuse"):
        review[f"{key}_text"] = "–" if review[key] is None else f"{review[key]:.1%}"
    return {
        "today": selectors.today_figures(now=now),
        "review": review,
        "charts": charts,
        "start": start_day,
        "end": end_day,
        "period": period,
        "alert_share": settings.DRIFT_ALERT_SHARE,
    }


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    if not dashboard_visible(request.user):
        return context
    now = timezone.now()
    form, start_day, end_day = _period(request, now.date())
    context["dashboard"] = dashboard_data(start_day=start_day, end_day=end_day, now=now)
    context["period_form"] = form
    return context


def environment_label(request: HttpRequest) -> list[str] | None:
    """The environment badge in the admin's header (unfold ``ENVIRONMENT``); none in production."""
    if settings.PRODUCTION:
        return None
    return [settings.ENVIRONMENT.capitalize(), "warning"]
