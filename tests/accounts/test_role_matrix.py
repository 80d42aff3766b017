"""Walks every cell of the role matrix (tests/accounts/role_matrix.py)."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from accounts.roles import Role
from governance.models import FairnessReport, PerformanceReport, PromotionRequest
from monitoring.models import DriftReport, DriftReportHtml
from scoring.batch.services import batch_job_submit
from tests.accounts.role_matrix import KEY_SCOPES, MATRIX, PRINCIPALS, Row
from tests.factories import ClientFactory
from tests.models import TrainedModel, register_trained

CELLS = [(row, principal) for row in MATRIX for principal in PRINCIPALS]
API_PREFIXES = ("api/", "score", "fraude", "metrics")


GDPR_PLACEHOLDERS = (
    "erasure_request_pk",
    "access_request_pk",
    "approved_access_pk",
    "held_erasure_pk",
    "done_erasure_pk",
    "legal_hold_pk",
    "audit_event_pk",
)


@pytest.fixture
def matrix_objects(
    request: pytest.FixtureRequest,
    db: None,
    api_key_for: Callable[..., str],
    trained_credit: TrainedModel,
    django_capture_on_commit_callbacks: Any,
) -> dict[str, Any]:
    """The rows' placeholders: objects each cell may point at."""
    from accounts.models import ApiKey
    from fraud.models import FraudRule
    from fraud.services import fraud_alert_take
    from scoring.models import Decision
    from tests.factories import FraudAlertFactory, TransactionFactory, UserFactory

    client = ClientFactory(client_id="C0001")
    champion = register_trained(trained_credit, version="credit-matrix", status="champion")
    challenger = register_trained(trained_credit, version="credit-matrix-2", status="challenger", threshold=0.5)
    api_key_for(Role.VIEWER, ["read"])
    superuser = get_user_model().objects.create_superuser("breakglass", "bg@example.test", None)
    analyst = UserFactory(username="analyst-user", roles=[Role.ANALYST])  # the matrix's analyst
    colleague = UserFactory(username="other-analyst", roles=[Role.ANALYST])
    mine, theirs = FraudAlertFactory(), FraudAlertFactory()
    fraud_alert_take(alert=mine, user=analyst)
    fraud_alert_take(alert=theirs, user=colleague)
    cases = _review_cases(champion, analyst, colleague)
    report = DriftReport.objects.create(
        purpose="credit",
        day=date(2026, 11, 2),
        model_version=champion,
        status="ok",
        drift_share=0.1,
        alert_threshold=0.3,
    )
    DriftReportHtml.objects.create(report=report, content=gzip.compress(b"<html>drift</html>"), size=18)
    # GDPR requests cost an erasure to set up: made only for the rows that point at them.
    callspec = getattr(request.node, "callspec", None)
    row = callspec.params.get("row") if callspec else None
    needs_gdpr = row is None or any(name in repr(row) for name in GDPR_PLACEHOLDERS)
    gdpr = _gdpr_objects(client) if needs_gdpr else {}
    with django_capture_on_commit_callbacks(execute=True):  # the analyst's own job, scored in-process
        job = batch_job_submit(
            data=b"age,revenu,historique_impaye\n35,50000,1\n17,1,0\n",
            filename="seed.csv",
            caller=f"user:{analyst.pk}",
            source="admin",
        )
    return {
        **gdpr,
        "batch_job_id": str(job.pk),
        "today": timezone.localdate().isoformat(),
        "promotion_request_pk": PromotionRequest.objects.create(
            kind="model", model_version=challenger, target_status="champion", requested_by=superuser
        ).pk,
        "fairness_report_pk": FairnessReport.objects.create(
            model_version=champion,
            as_of=date(2026, 11, 1),
            basis="decisions",
            feature="age",
            kind="sensitive",
            rows=1,
            groups=[{"group": "<25", "n": 1, "approval_rate": 1.0, "ratio": 1.0, "judged": False}],
        ).pk,
        "performance_report_pk": PerformanceReport.objects.create(
            model_version=champion,
            as_of=date(2026, 11, 1),
            horizon_months=12,
            decisions=1,
            matured=0,
            immature=1,
            defaults=0,
        ).pk,
        "drift_report_pk": report.pk,
        "nightly_task_pk": PeriodicTask.objects.get(task="monitoring.tasks.drift_report_nightly").pk,
        "transaction_id": TransactionFactory(transaction_id="TX0001").transaction_id,
        "rule_pk": FraudRule.objects.get(name="high_amount").pk,
        "draft_rule_pk": FraudRule.objects.create(name="draft_rule", condition="amount > 1").pk,
        **cases,
        "alert_pk": mine.pk,
        "other_alert_pk": theirs.pk,
        "open_alert_pk": FraudAlertFactory().pk,
        "client_id": client.client_id,
        "client_pk": client.pk,
        "api_key_pk": ApiKey.objects.latest("created_at").pk,
        "superuser_pk": superuser.pk,
        "model_pk": champion.pk,
        "challenger_pk": challenger.pk,
        "refused_decision_id": Decision.objects.create(
            model_version=champion,
            features={"age": 35},
            probability_default=0.6,
            prediction=1,
            decision="refuse",
            risk_level="HIGH",
            threshold_used=0.3,
            reasons=[{"feature": "age", "label": "Age", "value": 35, "contribution": 0.5}],
            caller="user:0",
        ).pk,
        "decision_id": Decision.objects.create(
            model_version=champion,
            features={"age": 35},
            probability_default=0.1,
            prediction=0,
            decision="approve",
            risk_level="LOW",
            threshold_used=0.3,
            caller="user:0",
        ).pk,
    }


def _review_cases(champion: Any, analyst: Any, colleague: Any) -> dict[str, Any]:
    """Review cases: the analyst's, a colleague's, an open one, one waiting for a second approval."""
    from scoring.models import Decision, ReviewCase
    from scoring.review.services import review_case_close, review_case_take

    def case() -> Any:
        decision = Decision.objects.create(
            model_version=champion,
            features={"age": 35},
            probability_default=0.4,
            prediction=1,
            decision="refer",
            risk_level="HIGH",
            threshold_used=0.3,
            caller="user:0",
        )
        return ReviewCase.objects.create(decision=decision)

    mine, theirs, waiting = case(), case(), case()
    review_case_take(case=mine, user=analyst)
    review_case_take(case=theirs, user=colleague)
    review_case_take(case=waiting, user=colleague)
    review_case_close(case=waiting, user=colleague, final_decision="approve", justification="Guarantor.")
    return {
        "case_pk": mine.pk,
        "other_case_pk": theirs.pk,
        "open_case_pk": case().pk,
        "waiting_case_pk": waiting.pk,
    }


def _gdpr_objects(client: Any) -> dict[str, Any]:
    """GDPR requests in each state, a legal hold and an audit event, for the privacy rows."""
    from audit.models import AuditEvent
    from privacy.services import erasure_execute, gdpr_request_approve, gdpr_request_record, legal_hold_place
    from tests.factories import ClientFactory, UserFactory

    first = UserFactory(username="officer-one", roles=[Role.COMPLIANCE])
    second = UserFactory(username="officer-two", roles=[Role.COMPLIANCE])

    def request(kind: str, person: Any) -> Any:
        return gdpr_request_record(kind=kind, client=person, by=first)

    held_client = ClientFactory()
    hold = legal_hold_place(client=held_client, reason="legal_claim", by=first)
    held = gdpr_request_approve(request=request("erasure", held_client), by=second)
    done = gdpr_request_approve(request=request("erasure", ClientFactory()), by=second, enqueue=False)
    erasure_execute(request=done)
    return {
        "erasure_request_pk": request("erasure", client).pk,
        "access_request_pk": request("access", client).pk,
        "approved_access_pk": gdpr_request_approve(request=request("access", client), by=second).pk,
        "held_erasure_pk": held.pk,
        "done_erasure_pk": done.pk,
        "legal_hold_pk": hold.pk,
        "audit_event_pk": AuditEvent.objects.order_by("-seq").values_list("pk", flat=True)[0],
    }


def caller(principal: str, client_as: Callable[[str | None], APIClient], key_client: Callable[..., APIClient]) -> Any:
    if principal in KEY_SCOPES:
        return key_client(Role.ANALYST, KEY_SCOPES[principal])
    return client_as(None if principal == "anonymous" else principal)


def fill(value: Any, objects: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**objects)
    if isinstance(value, list):
        return [fill(item, objects) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, objects) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("row", "principal"), CELLS, ids=[f"{row.label} as {p}" for row, p in CELLS])
def test_role_matrix_cell(
    row: Row,
    principal: str,
    matrix_objects: dict[str, Any],
    client_as: Callable[[str | None], APIClient],
    key_client: Callable[..., APIClient],
) -> None:
    api = caller(principal, client_as, key_client)
    path = fill(row.path, matrix_objects)
    body = fill(dict(row.body), matrix_objects) if row.body is not None else None
    send = getattr(api, row.method.lower())
    if row.files:
        uploads = {name: SimpleUploadedFile(filename, content) for name, (filename, content) in row.files.items()}
        response = send(path, {**(body or {}), **uploads}, format="multipart")
    elif body is None:
        response = send(path)
    elif row.form:
        response = send(path, body, format="multipart")  # a form, as a browser posts the admin
    else:
        response = send(path, body, format="json")
    assert response.status_code == row.expect[principal], f"{row.label} as {principal}: {response.status_code}"


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = URLResolver._join_route(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def test_every_api_route_has_a_row_in_the_matrix(matrix_objects: dict[str, Any]) -> None:
    covered = {resolve(fill(row.path, matrix_objects)).route for row in MATRIX if row.kind == "api"}
    api_routes = {r for r in _routes(get_resolver().url_patterns) if r.lstrip("^").startswith(API_PREFIXES)}
    missing = sorted(api_routes - covered)
    assert not missing, f"add rows to tests/accounts/role_matrix.py for: {missing}"


def test_every_admin_model_has_a_row_in_the_matrix() -> None:
    paths = {row.path for row in MATRIX if row.kind == "admin"}
    changelists = {f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model in admin.site._registry}
    missing = sorted(changelists - paths)
    assert not missing, f"add rows to tests/accounts/role_matrix.py for: {missing}"
