"""The nightly drift report: stored, shown in the admin, alerting on a shifted day only."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from creditplatform.webhooks import verify_signature
from monitoring.choices import DriftStatus
from monitoring.models import DriftReport
from monitoring.services import drift_report_generate
from scoring.models import ModelVersion
from tests.metrics import scraped
from tests.models import TrainedModel
from tests.monitoring.decisions import shifted_population, store_day
from tests.receivers import Receiver, http_receiver

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 2)


def test_drift_report_stores_a_report_the_admin_shows(
    credit_model: ModelVersion, trained_credit: TrainedModel, client_as: Callable[[str | None], APIClient]
) -> None:
    store_day(trained_credit, credit_model, DAY)
    out = io.StringIO()
    call_command("drift_report", "--date", DAY.isoformat(), stdout=out)
    report = DriftReport.objects.get(purpose="credit", day=DAY)
    assert f"credit {DAY}: No drift" in out.getvalue()
    assert report.model_version == credit_model
    assert report.rows_day == report.rows_compared == 600
    assert report.tested_features == len(credit_model.feature_schema)

    viewer = client_as("viewer")
    listing = viewer.get("/admin/monitoring/driftreport/")
    assert listing.status_code == 200
    assert DAY.strftime("%b. %-d, %Y") in listing.content.decode() or DAY.isoformat() in listing.content.decode()
    detail = viewer.get(f"/admin/monitoring/driftreport/{report.pk}/change/")
    assert detail.status_code == 200
    assert "historique_impaye" in detail.content.decode()
    html = viewer.get(f"/admin/monitoring/driftreport/{report.pk}/html/")
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    assert b"historique_impaye" in html.content and b"<script" in html.content
    # Its inline scripts run in a sandbox of their own: not the admin's origin, nothing loaded.
    policy = html["Content-Security-Policy"]
    assert policy.startswith("sandbox allow-scripts") and "allow-same-origin" not in policy
    assert "default-src 'none'" in policy


def test_a_shifted_day_raises_the_alert(
    credit_model: ModelVersion,
    trained_credit: TrainedModel,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    store_day(trained_credit, credit_model, DAY, shift=shifted_population)
    with (
        caplog.at_level(logging.WARNING, logger="monitoring.services"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        report = drift_report_generate(purpose="credit", day=DAY)
    assert report.alert and report.status == DriftStatus.DRIFT
    assert report.drift_share is not None and report.drift_share >= 0.3
    drifted = {name for name, f in report.summary["features"].items() if f["drifted"]}
    assert {"age", "revenu", "amount", "duration_months"} <= drifted
    assert report.prediction_drift is not None
    alerts = [r for r in caplog.records if getattr(r, "event", None) == "drift_alert"]
    assert len(alerts) == 1 and alerts[0].purpose == "credit"


def test_an_unshifted_day_does_not_raise_the_alert(
    credit_model: ModelVersion,
    trained_credit: TrainedModel,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    store_day(trained_credit, credit_model, DAY, seed=3)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        report = drift_report_generate(purpose="credit", day=DAY)
    assert not report.alert and report.status == DriftStatus.OK
    assert report.drift_share is not None and report.drift_share < 0.3
    assert report.prediction_drift is False
    assert not [r for r in caplog.records if getattr(r, "event", None) == "drift_alert"]


def test_the_alert_threshold_is_a_setting(
    credit_model: ModelVersion, trained_credit: TrainedModel, settings: Any
) -> None:
    store_day(trained_credit, credit_model, DAY, shift=lambda f: f.assign(age=f["age"] + 18))
    settings.DRIFT_ALERT_SHARE = 0.05
    assert drift_report_generate(purpose="credit", day=DAY).alert
    settings.DRIFT_ALERT_SHARE = 0.5
    report = drift_report_generate(purpose="credit", day=DAY)
    assert not report.alert and report.alert_threshold == 0.5


def test_running_a_day_again_replaces_its_report(credit_model: ModelVersion, trained_credit: TrainedModel) -> None:
    store_day(trained_credit, credit_model, DAY)
    first = drift_report_generate(purpose="credit", day=DAY)
    again = drift_report_generate(purpose="credit", day=DAY)
    assert DriftReport.objects.filter(purpose="credit", day=DAY).count() == 1
    assert again.pk == first.pk and again.drift_share == first.drift_share


def test_a_big_day_is_sampled_to_the_stated_size_with_exact_day_figures(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    decisions = store_day(trained_credit, credit_model, DAY, rows=1200)
    report = drift_report_generate(purpose="credit", day=DAY, sample_size=400)
    assert report.rows_day == 1200
    assert 300 <= report.rows_compared <= 500  # each row kept with probability 1/3
    refused = sum(d.prediction for d in decisions)
    assert report.summary["day"]["adverse_share"] == pytest.approx(refused / 1200, abs=1e-6)


def test_a_quiet_day_is_reported_as_too_few_decisions_without_alert(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    store_day(trained_credit, credit_model, DAY, rows=40, shift=shifted_population)
    report = drift_report_generate(purpose="credit", day=DAY)
    assert report.status == DriftStatus.INSUFFICIENT
    assert not report.alert and report.drift_share is None
    assert not hasattr(report, "html") or report.html is None


def test_features_callers_never_send_are_not_tested_and_do_not_count(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    seed_only = ["age", "revenu", "historique_impaye"]
    store_day(trained_credit, credit_model, DAY, shift=lambda f: f[seed_only])
    report = drift_report_generate(purpose="credit", day=DAY)
    assert report.tested_features == 3
    home = report.summary["features"]["home"]
    assert home["tested"] is False and home["current_missing_share"] == 1.0
    assert not report.alert


def test_reports_keep_aggregates_only_never_an_applicant_s_values(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    marker = 131.23457  # the data set's incomes run from 0 to 959: a middle value

    def with_marker(frame: Any) -> Any:
        frame.loc[10, "revenu"] = marker  # inside the distribution: never an extreme
        return frame

    store_day(trained_credit, credit_model, DAY, shift=with_marker)
    report = drift_report_generate(purpose="credit", day=DAY)
    html = report.html.content
    import gzip

    assert str(marker).encode() not in gzip.decompress(bytes(html))
    assert str(marker) not in json.dumps(report.summary)


def test_without_a_champion_the_command_says_so() -> None:
    with pytest.raises(CommandError, match="no champion"):
        call_command("drift_report", "--date", DAY.isoformat(), stdout=io.StringIO())


def test_a_bad_date_is_refused_with_the_expected_format(credit_model: ModelVersion) -> None:
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("drift_report", "--date", "02/11/2026", stdout=io.StringIO())


def test_a_day_in_the_future_is_refused_and_leaves_the_newest_report_alone(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    """A mistyped year (2027 for 2026) stored an empty report that stood as the newest one for a year:
    the dashboard's last drift status and /metrics' report day, whose age is the stopped-job alert."""
    from django.utils import timezone

    store_day(trained_credit, credit_model, DAY)
    call_command("drift_report", "--date", DAY.isoformat(), stdout=io.StringIO())
    for future in (timezone.now().date() + timedelta(days=1), date(9999, 12, 31)):
        with pytest.raises(CommandError, match=f"{future.isoformat()} has not happened yet"):
            call_command("drift_report", "--date", future.isoformat(), stdout=io.StringIO())
    assert list(DriftReport.objects.values_list("day", flat=True)) == [DAY]


def test_the_nightly_schedule_exists_and_is_editable_in_the_admin(client_as: Callable[[str | None], APIClient]) -> None:
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="monitoring.tasks.drift_report_nightly")
    assert task.enabled and (task.crontab.hour, task.crontab.minute) == ("0", "30")
    page = client_as("admin").get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert page.status_code == 200 and b"drift_report_nightly" in page.content


def test_the_nightly_job_reports_yesterday_for_each_champion(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    from django.utils import timezone

    from monitoring.tasks import drift_report_nightly

    yesterday = timezone.now().date() - timedelta(days=1)
    store_day(trained_credit, credit_model, yesterday)
    assert drift_report_nightly.delay().get() == ["credit"]
    assert DriftReport.objects.get(purpose="credit").day == yesterday


def test_the_nightly_job_makes_the_reports_of_earlier_days_that_have_none(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    """A report whose worker was killed mid-comparison (or whose task the broker lost) leaves no row:
    the next night makes it, besides yesterday's; a day that has its report is not run again."""
    from django.utils import timezone

    from monitoring.tasks import drift_report_nightly

    yesterday = timezone.now().date() - timedelta(days=1)
    lost, reported, too_old = (yesterday - timedelta(days=n) for n in (2, 3, 30))  # a week back, at most
    for day in (yesterday, lost, reported, too_old):
        store_day(trained_credit, credit_model, day, rows=120)
    kept = drift_report_generate(purpose="credit", day=reported)
    assert drift_report_nightly.delay().get() == ["credit"]
    assert sorted(DriftReport.objects.values_list("day", flat=True)) == sorted([yesterday, lost, reported])
    assert DriftReport.objects.get(day=reported).updated_at == kept.updated_at


def test_drift_share_is_in_metrics(credit_model: ModelVersion, trained_credit: TrainedModel) -> None:
    store_day(trained_credit, credit_model, DAY, shift=shifted_population)
    report = drift_report_generate(purpose="credit", day=DAY)
    text = APIClient().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert f'drift_share{{purpose="credit"}} {report.drift_share}' in text
    assert 'drift_alert{purpose="credit"} 1.0' in text


# --- The webhook ------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    with http_receiver() as found:
        yield found


SECRET = "a-shared-secret-of-some-length"


def test_an_alert_is_posted_to_the_webhook_signed(
    credit_model: ModelVersion,
    trained_credit: TrainedModel,
    settings: Any,
    receiver: tuple[str, type[Receiver]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    url, handler = receiver
    settings.DRIFT_WEBHOOK_URL, settings.DRIFT_WEBHOOK_SECRET = url, SECRET
    store_day(trained_credit, credit_model, DAY, shift=shifted_population)
    with django_capture_on_commit_callbacks(execute=True):
        report = drift_report_generate(purpose="credit", day=DAY)
    [(headers, body)] = handler.received
    assert verify_signature(SECRET, body, headers["X-Credit-Signature"])
    assert not verify_signature("another-secret-entirely", body, headers["X-Credit-Signature"])
    payload = json.loads(body)
    assert payload["event"] == "drift_alert" and payload["day"] == DAY.isoformat()
    assert "age" in payload["drifted_features"]
    report.refresh_from_db()
    assert report.notification == "delivered: HTTP 200"


def test_a_failing_webhook_never_fails_the_report(
    credit_model: ModelVersion,
    trained_credit: TrainedModel,
    settings: Any,
    receiver: tuple[str, type[Receiver]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    url, handler = receiver
    handler.statuses = [503] * 5  # every attempt
    settings.DRIFT_WEBHOOK_URL, settings.DRIFT_WEBHOOK_SECRET = url, SECRET
    store_day(trained_credit, credit_model, DAY, shift=shifted_population)
    with django_capture_on_commit_callbacks(execute=True):
        report = drift_report_generate(purpose="credit", day=DAY)
    report.refresh_from_db()
    assert report.alert
    assert report.notification == "not delivered: HTTP 503"
    assert scraped('webhooks_undelivered{kind="drift_alert",status="failed"}') == 1  # operators see it
    assert scraped('webhooks_owed{kind="drift_alert"}') == 0


def test_an_unreachable_webhook_is_recorded_not_raised(
    credit_model: ModelVersion, trained_credit: TrainedModel, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DRIFT_WEBHOOK_URL, settings.DRIFT_WEBHOOK_SECRET = "http://127.0.0.1:9/hook", SECRET
    store_day(trained_credit, credit_model, DAY, shift=shifted_population)
    with django_capture_on_commit_callbacks(execute=True):
        report = drift_report_generate(purpose="credit", day=DAY)
    report.refresh_from_db()
    assert report.notification.startswith("not delivered: ConnectionError")


def test_the_fraud_model_gets_its_report_from_the_fraud_checks(
    fraud_model: ModelVersion, trained_fraud: TrainedModel
) -> None:
    import lightgbm as lgb

    from fraud.models import FraudCheck
    from tests.factories import FraudCheckFactory
    from tests.monitoring.decisions import _plain

    frame = trained_fraud.data.frame.sample(n=150, random_state=1).reset_index(drop=True)
    scores = lgb.Booster(model_str=trained_fraud.result.model_text.decode()).predict(trained_fraud.data.encoded(frame))
    for (_, row), score in zip(frame.iterrows(), scores, strict=True):
        FraudCheckFactory(
            model_version=fraud_model,
            model_score=float(score),
            features={k: _plain(v) for k, v in row.items() if _plain(v) is not None},
        )
    FraudCheck.objects.update(created_at=datetime.combine(DAY, time(12), tzinfo=UTC))
    out = io.StringIO()
    call_command("drift_report", "--date", DAY.isoformat(), "--purpose", "fraud", stdout=out)
    report = DriftReport.objects.get(purpose="fraud", day=DAY)
    assert report.rows_day == 150 and report.tested_features > 0
    assert f"fraud {DAY}:" in out.getvalue()


def reconcile_alerts() -> int:
    """One sweep of the drift-alert reconciler, its messages sent once it commits."""
    from django.test import TestCase

    from monitoring.services import drift_alerts_reconcile

    with TestCase.captureOnCommitCallbacks(execute=True):
        return drift_alerts_reconcile()


def test_an_alert_the_broker_refused_is_sent_by_the_reconciler_and_the_report_still_stands(
    credit_model: ModelVersion,
    trained_credit: TrainedModel,
    settings: Any,
    receiver: tuple[str, type[Receiver]],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker down when the report commits: the report is stored and the job does not fail, and
    the alert waits for the reconciler instead of being lost."""
    from kombu.exceptions import OperationalError as BrokerError

    from monitoring import tasks

    url, handler = receiver
    settings.DRIFT_WEBHOOK_URL, settings.DRIFT_WEBHOOK_SECRET = url, SECRET
    store_day(trained_credit, credit_model, DAY, shift=shifted_population)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise BrokerError("[Errno 111] Connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.drift_alert_notify, "apply_async", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            report = drift_report_generate(purpose="credit", day=DAY)  # no error: the report is stored
    report.refresh_from_db()
    assert report.alert and report.notification == "" and handler.received == []
    assert (report.notification_pending, report.notification_due_at) == (True, None)
    assert scraped('webhooks_owed{kind="drift_alert"}') == 1

    assert reconcile_alerts() == 1  # the broker is back: the next sweep sends it
    report.refresh_from_db()
    assert report.notification == "delivered: HTTP 200" and not report.notification_pending
    assert scraped('webhooks_owed{kind="drift_alert"}') == 0
    assert scraped('webhooks_undelivered{kind="drift_alert",status="failed"}') == 0
    [(headers, body)] = handler.received
    assert json.loads(body)["report_id"] == report.pk
    assert reconcile_alerts() == 0  # delivered: never sent again


def test_the_reconciler_leaves_alone_an_alert_waiting_for_its_retry_and_resends_a_lost_one(
    credit_model: ModelVersion,
    trained_credit: TrainedModel,
    settings: Any,
    receiver: tuple[str, type[Receiver]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """An alert whose retry is due later is not sent twice; once long overdue (its message lost, or its
    worker killed), it is, counting the attempts already made."""
    from django.utils import timezone

    url, handler = receiver
    handler.statuses = [503] * 10
    settings.DRIFT_WEBHOOK_URL, settings.DRIFT_WEBHOOK_SECRET = url, SECRET
    store_day(trained_credit, credit_model, DAY, shift=shifted_population)
    with django_capture_on_commit_callbacks(execute=True):
        report = drift_report_generate(purpose="credit", day=DAY)
    report.refresh_from_db()
    assert (report.notification, report.notification_pending) == ("not delivered: HTTP 503", False)
    attempts = report.notification_attempts
    assert attempts == len(handler.received) >= 2
    # Between two attempts: its retry is due in a minute.
    DriftReport.objects.filter(pk=report.pk).update(
        notification_pending=True, notification_attempts=1, notification_due_at=timezone.now() + timedelta(minutes=1)
    )
    handler.received.clear()
    assert reconcile_alerts() == 0
    assert handler.received == []
    overdue = timezone.now() - timedelta(seconds=settings.DRIFT_WEBHOOK_REQUEUE_AFTER_SECONDS + 1)
    DriftReport.objects.filter(pk=report.pk).update(notification_due_at=overdue)
    assert reconcile_alerts() == 1  # its message was lost: sent again, with the retries it had left
    report.refresh_from_db()
    assert report.notification_attempts == attempts and not report.notification_pending
    assert len(handler.received) == attempts - 1


def test_a_day_is_compared_against_the_model_that_decided_it_even_after_a_promotion(
    credit_model: ModelVersion, trained_credit: TrainedModel
) -> None:
    """A new champion promoted after the day (before the nightly run, or before a re-run): the day's
    report still compares the decisions with the reference of the version that made them, rather
    than finding no decision of the new champion and replacing the report with *too few decisions*."""
    from tests.models import register_trained

    store_day(trained_credit, credit_model, DAY)
    first = drift_report_generate(purpose="credit", day=DAY)
    assert (first.status, first.rows_day) == (DriftStatus.OK, 600)
    successor = register_trained(trained_credit, version="credit-successor", status="champion")
    credit_model.refresh_from_db()
    assert credit_model.status != "champion"

    again = drift_report_generate(purpose="credit", day=DAY)
    assert again.pk == first.pk
    assert (again.model_version, again.status, again.rows_day) == (credit_model, DriftStatus.OK, 600)
    assert again.summary["model"]["version"] == credit_model.version

    later = DAY + timedelta(days=1)  # a day the successor decided: compared with the successor's reference
    store_day(trained_credit, successor, later)
    assert drift_report_generate(purpose="credit", day=later).model_version == successor


def test_a_champion_without_a_reference_sample_is_reported_not_crashed_on(
    trained_credit: TrainedModel, caplog: pytest.LogCaptureFixture
) -> None:
    """A version uploaded in the admin keeps no training sample: the nightly job says so in a
    warning, every night, and goes on with the other purposes (run in-process, its exception
    stopped the loop and made the admin's *Run selected tasks* a 500)."""
    from django.utils import timezone

    from monitoring.tasks import drift_report_nightly
    from scoring.services import model_version_activate, model_version_register

    uploaded = model_version_register(
        purpose="credit",
        version="uploaded-1",
        artifact=trained_credit.result.model_text,
        feature_schema=trained_credit.data.schema.to_list(),
        threshold=0.12,
    )
    model_version_activate(model_version=uploaded, status="champion")
    store_day(trained_credit, uploaded, timezone.now().date() - timedelta(days=1))
    with caplog.at_level(logging.WARNING, logger="monitoring.tasks"):
        assert drift_report_nightly.delay().get() == ["credit"]
    assert not DriftReport.objects.exists()
    assert any("no reference sample" in r.getMessage() or "no reference sample" in str(r.__dict__.get("reason"))
               for r in caplog.records)  # fmt: skip
