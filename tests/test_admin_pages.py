"""Every admin page of a registered model opens: its list and the page of one object, for the
break-glass superuser and for the admin role (no 500, whatever the model, the column names
or the read-only fields).

Each registered model has a builder below that stores one object cheaply (services where a
service makes it, the ORM otherwise); a newly registered model without one fails the test.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin, InlineModelAdmin
from django.contrib.admin.utils import flatten_fieldsets, quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from creditplatform.admin_mixins import PlatformModelAdmin, PlatformStackedInline, PlatformTabularInline
from tests.factories import (
    ClientFactory,
    CreditApplicationFactory,
    FraudAlertFactory,
    FraudCheckFactory,
    TransactionFactory,
    UserFactory,
    make_decision,
)

pytestmark = pytest.mark.django_db


def _model_version() -> Any:
    from scoring.models import ModelVersion

    return ModelVersion.objects.get_or_create(
        purpose="credit", version="credit-pages", defaults={"sha256": "0" * 64, "threshold": 0.3}
    )[0]


def _decision() -> Any:
    from scoring.models import Decision

    return Decision.objects.filter(caller="user:0").first() or make_decision(_model_version(), client=ClientFactory())


def _officers() -> tuple[Any, Any]:
    return (
        UserFactory(username="pages-officer-a", roles=[Role.COMPLIANCE]),
        UserFactory(username="pages-officer-b", roles=[Role.COMPLIANCE]),
    )


def _audit_event() -> Any:
    from audit.services import audit_record

    return audit_record(actor="system:pages", action="pages.tested")


def _api_key() -> Any:
    from accounts.services import api_key_create

    return api_key_create(name="pages", role=Role.VIEWER).api_key


def _oidc_identity() -> Any:
    from accounts.models import OidcIdentity

    return OidcIdentity.objects.create(
        user=UserFactory(username="pages-oidc"), issuer="https://idp.example.test", subject="sub-1", roles=["viewer"]
    )


def _access_attempt() -> Any:
    from axes.models import AccessAttempt

    return AccessAttempt.objects.create(
        user_agent="pytest", ip_address="192.0.2.1", username="someone", http_accept="text/html",
        path_info="/admin/login/", get_data="", post_data="", failures_since_start=3,
    )  # fmt: skip


def _batch_job() -> Any:
    from scoring.models import BatchJob

    return BatchJob.objects.create(
        source="admin", filename="seed.csv", file_format="csv", file_size=40, file_sha256="0" * 64,
        model_version=_model_version(), caller="user:0", chunk_rows=1000,
    )  # fmt: skip


def _review_case() -> Any:
    from scoring.models import ReviewCase

    return ReviewCase.objects.create(decision=_decision())


def _webhook() -> Any:
    from scoring.models import DecisionWebhook

    # A URL of its own each time: one caller holds one active webhook per URL.
    url = f"https://hooks.example.test/decisions/{DecisionWebhook.objects.count()}"
    return DecisionWebhook.objects.create(caller="user:0", url=url, secret="s" * 40)


def _webhook_delivery() -> Any:
    from scoring.models import WebhookDelivery

    decision = _decision()
    return WebhookDelivery.objects.create(webhook=_webhook(), decision=decision, payload={"id": str(decision.pk)})


def _fraud_rule() -> Any:
    from fraud.models import FraudRule

    return FraudRule.objects.order_by("pk").first()


def _fraud_rule_version() -> Any:
    from fraud.models import FraudRuleVersion

    return FraudRuleVersion.objects.order_by("pk").first()


def _fraud_settings() -> Any:
    from fraud.models import FraudSettings

    return FraudSettings.objects.get_or_create(pk=1)[0]


def _api_call() -> Any:
    from monitoring.models import ApiCall

    return ApiCall.objects.create(
        request_id="req-pages", method="POST", endpoint="/api/v1/score", status_code=201, latency_ms=12.5
    )


def _drift_report() -> Any:
    from monitoring.models import DriftReport

    return DriftReport.objects.create(
        purpose="credit", day=dt.date(2026, 11, 2), model_version=_model_version(), status="ok",
        drift_share=0.1, alert_threshold=0.3,
    )  # fmt: skip


def _periodic_task() -> Any:
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask.objects.order_by("pk").first()


def _interval() -> Any:
    from django_celery_beat.models import IntervalSchedule

    return IntervalSchedule.objects.get_or_create(every=10, period="minutes")[0]


def _crontab() -> Any:
    from django_celery_beat.models import CrontabSchedule

    return CrontabSchedule.objects.get_or_create(minute="5", hour="3")[0]


def _solar() -> Any:
    from django_celery_beat.models import SolarSchedule

    return SolarSchedule.objects.create(event="sunrise", latitude=Decimal("48.85"), longitude=Decimal("2.35"))


def _clocked() -> Any:
    from django_celery_beat.models import ClockedSchedule

    return ClockedSchedule.objects.create(clocked_time=timezone.now())


def _task_result() -> Any:
    from django_celery_results.models import TaskResult

    return TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="scoring.tasks.batch_chunk", status="SUCCESS")


def _group_result() -> Any:
    from django_celery_results.models import GroupResult

    return GroupResult.objects.create(group_id=str(uuid.uuid4()), result="[]")


def _outcome() -> Any:
    from governance.models import Outcome

    return Outcome.objects.create(
        decision=_decision(), defaulted=False, observed_on=dt.date(2026, 10, 1), horizon_months=12,
        source="admin", caller="user:0", import_id=uuid.uuid4(),
    )  # fmt: skip


def _performance_report() -> Any:
    from governance.models import PerformanceReport

    return PerformanceReport.objects.create(
        model_version=_model_version(), as_of=dt.date(2026, 11, 1), horizon_months=12,
        decisions=1, matured=0, immature=1, defaults=0,
    )  # fmt: skip


def _fairness_report() -> Any:
    from governance.models import FairnessReport

    return FairnessReport.objects.create(
        model_version=_model_version(), as_of=dt.date(2026, 11, 1), basis="decisions", feature="age",
        kind="sensitive", rows=1,
        groups=[{"group": "<25", "n": 1, "approval_rate": 1.0, "ratio": 1.0, "judged": False}],
    )  # fmt: skip


def _promotion_request() -> Any:
    from governance.models import PromotionRequest

    return PromotionRequest.objects.create(
        kind="model", model_version=_model_version(), target_status="champion",
        requested_by=UserFactory(username="pages-requester", roles=[Role.ADMIN]), reason="pages",
    )  # fmt: skip


def _gdpr_request() -> Any:
    from privacy.services import gdpr_request_record

    return gdpr_request_record(kind="access", client=ClientFactory(), by=_officers()[0], details="Letter")


def _legal_hold() -> Any:
    from privacy.services import legal_hold_place

    return legal_hold_place(client=ClientFactory(), reason="legal_claim", by=_officers()[0])


BUILDERS: dict[str, Callable[[], Any]] = {
    "audit.AuditEvent": _audit_event,
    "accounts.ApiKey": _api_key,
    "accounts.OidcIdentity": _oidc_identity,
    "axes.AccessAttempt": _access_attempt,
    "auth.User": lambda: UserFactory(username="pages-user", roles=[Role.VIEWER]),
    "auth.Group": lambda: Group.objects.get(name=Role.ANALYST),
    "scoring.BatchJob": _batch_job,
    "scoring.ReviewCase": _review_case,
    "scoring.DecisionWebhook": _webhook,
    "scoring.WebhookDelivery": _webhook_delivery,
    "scoring.Client": ClientFactory,
    "scoring.CreditApplication": CreditApplicationFactory,
    "scoring.ModelVersion": _model_version,
    "scoring.Decision": _decision,
    "fraud.Transaction": lambda: FraudCheckFactory(model_score=0.2).transaction,
    "fraud.FraudCheck": lambda: FraudCheckFactory(model_score=None),
    "fraud.FraudRule": _fraud_rule,
    "fraud.FraudRuleVersion": _fraud_rule_version,
    "fraud.FraudAlert": FraudAlertFactory,
    "fraud.FraudSettings": _fraud_settings,
    "monitoring.ApiCall": _api_call,
    "monitoring.DriftReport": _drift_report,
    "django_celery_beat.PeriodicTask": _periodic_task,
    "django_celery_beat.IntervalSchedule": _interval,
    "django_celery_beat.CrontabSchedule": _crontab,
    "django_celery_beat.SolarSchedule": _solar,
    "django_celery_beat.ClockedSchedule": _clocked,
    "django_celery_results.TaskResult": _task_result,
    "django_celery_results.GroupResult": _group_result,
    "governance.Outcome": _outcome,
    "governance.PerformanceReport": _performance_report,
    "governance.FairnessReport": _fairness_report,
    "governance.PromotionRequest": _promotion_request,
    "privacy.GdprRequest": _gdpr_request,
    "privacy.LegalHold": _legal_hold,
}


def _pages(objects: dict[str, Model]) -> list[str]:
    """The list and the object's page of every registered model."""
    urls = []
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        urls.append(reverse("admin:{}_{}_change".format(*info), args=[quote(objects[model._meta.label].pk)]))
    return urls


@pytest.fixture
def objects() -> dict[str, Model]:
    """One stored object of each registered model, by label."""
    missing = sorted(m._meta.label for m in admin.site._registry if m._meta.label not in BUILDERS)
    assert not missing, f"add a builder to tests/test_admin_pages.py for: {missing}"
    TransactionFactory()  # a transaction without a check: its page shows no inline rows
    built = {label: BUILDERS[label]() for label in BUILDERS}
    assert all(obj is not None and obj.pk is not None for obj in built.values()), built
    return built


def _open(browser: Client, urls: Iterable[str], allowed: set[int]) -> list[str]:
    failures = []
    for url in urls:
        try:
            status = browser.get(url).status_code
        except Exception as exc:  # noqa: BLE001 (every broken page is reported, not the first only)
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        if status not in allowed:
            failures.append(f"{url}: {status}")
    return failures


def test_the_superuser_opens_the_list_and_an_object_of_every_admin(objects: dict[str, Model]) -> None:
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("pages-breakglass", "bg@example.test", None))
    # 302: the thresholds' list goes straight to its one row.
    failures = _open(browser, _pages(objects), allowed={200, 302})
    assert not failures, "\n".join(failures)


def test_the_admin_role_opens_or_is_refused_every_admin_page_never_a_500(
    objects: dict[str, Model], client_as: Callable[[str | None], Any]
) -> None:
    # 403: the models an admin may not see (GDPR requests and legal holds are compliance's).
    failures = _open(client_as(Role.ADMIN), _pages(objects), allowed={200, 302, 403})
    assert not failures, "\n".join(failures)


def _admins() -> Iterable[BaseModelAdmin]:
    for model_admin in admin.site._registry.values():
        yield model_admin
        for inline in model_admin.inlines:
            yield inline(model_admin.model, admin.site)


def _shown_names(model_admin: BaseModelAdmin) -> set[str]:
    names: set[Any] = set(model_admin.readonly_fields) | set(getattr(model_admin, "list_display", ()))
    names |= set(flatten_fieldsets(model_admin.fieldsets)) if model_admin.fieldsets else set(model_admin.fields or ())
    return {name for name in names if isinstance(name, str)}


def test_no_admin_column_is_named_after_an_attribute_of_the_admin_itself() -> None:
    """A column or read-only field that is not a model field is looked up on the admin first:
    named ``model`` (or ``opts``, ``media``, ...) it is the admin's own attribute that is shown."""
    clashes = []
    for model_admin in _admins():
        base = (
            (PlatformStackedInline, PlatformTabularInline)
            if isinstance(model_admin, InlineModelAdmin)
            else (PlatformModelAdmin,)
        )
        reserved = {"model", "opts", "admin_site", "parent_model"}.union(*(dir(b) for b in base))
        reserved -= {"__str__", "action_checkbox"}  # Django's own columns
        for name in _shown_names(model_admin):
            try:
                model_admin.model._meta.get_field(name)
            except FieldDoesNotExist:
                if name in reserved:
                    clashes.append(f"{type(model_admin).__name__}.{name}")
    assert not clashes, f"rename these admin columns: {clashes}"


PROJECT_APPS = ("accounts", "audit", "scoring", "fraud", "monitoring", "governance", "privacy")


def test_an_empty_instance_of_every_project_model_has_a_name() -> None:
    """What the admin builds when it resolves a name to a model class: ``__str__`` must not fail on it."""
    from django.apps import apps

    failures = []
    for model in apps.get_models():
        if model._meta.app_label in PROJECT_APPS:
            try:
                assert isinstance(str(model()), str)
            except Exception as exc:  # noqa: BLE001 (every model is reported)
                failures.append(f"{model._meta.label}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)


OUT_OF_RANGE_DATES = [
    "created_at__year=99999",  # a lookup of any list: fails when the query is compiled
    "created_at__year=0",
    "created_at__year__gte=10000",
    "created_at__year=9999&created_at__month=12",  # the date hierarchy: its end overflows
    "created_at__year=9999",
    "created_at__day=31&created_at__month=12&created_at__year=9999",
]


@pytest.mark.parametrize("query", OUT_OF_RANGE_DATES)
def test_a_date_no_calendar_holds_in_a_list_filter_is_the_admins_bad_filter_answer_not_a_500(
    objects: dict[str, Model], client_as: Callable[[str | None], Any], query: str
) -> None:
    browser = client_as(Role.VIEWER)  # any staff user who reads the lists
    failures = []
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") + "?" + query
        try:
            response = browser.get(url)
        except Exception as exc:  # noqa: BLE001 (every broken list is reported, not the first only)
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
            continue
        if response.status_code not in (200, 302, 403):
            failures.append(f"{url}: {response.status_code}")
    assert not failures, "\n".join(failures)
    response = browser.get("/admin/scoring/decision/?" + query)
    # Django's own answer to a bad filter value: back to the list with ?e=1 ("Database error").
    assert (response.status_code, response.get("Location")) == (302, "/admin/scoring/decision/?e=1")


@pytest.mark.parametrize("query", ["created_at__gte=0001-01-01", "created_at__date=9999-12-31", "created_at__year=1"])
def test_the_first_and_last_days_a_calendar_holds_are_still_filters(
    client_as: Callable[[str | None], Any], query: str
) -> None:
    assert client_as(Role.VIEWER).get("/admin/scoring/decision/?" + query).status_code == 200


@pytest.mark.parametrize("page", ["x", "0", "-1", "1.5", "99999999999999999999"])
def test_a_page_number_of_the_sidebar_search_that_is_not_one_is_a_404_not_a_500(
    client_as: Callable[[str | None], Any], page: str
) -> None:
    """The sidebar's search box (unfold's ``/admin/search/``) pages its results with ``?page=``, read as is."""
    browser = client_as(Role.VIEWER)
    assert browser.get("/admin/search/", {"s": "decision"}).status_code == 200
    assert browser.get("/admin/search/", {"s": "decision", "page": page}).status_code == 404
