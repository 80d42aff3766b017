"""Celery application.

With ``CELERY_BROKER_URL`` unset (the embedded default) tasks run in-process
(``task_always_eager``); with a broker URL the same code runs on real workers.
"""

import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_init, worker_process_shutdown
from celery.utils.log import get_multiprocessing_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")

app = Celery("creditplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


def _through_the_root_handler(logger: logging.Logger | None) -> None:
    """Drop the handlers Celery gave ``logger`` and let its records reach the root's redacting one."""
    if logger is None:
        return
    for handler in list(logger.handlers):
        if not isinstance(handler, logging.NullHandler):
            logger.removeHandler(handler)
    logger.propagate = True


@after_setup_task_logger.connect
def task_logs_redacted(logger: logging.Logger | None = None, **kwargs: object) -> None:
    """``celery worker`` gives its task logger (``get_task_logger``, Celery's way to log in a task)
    a plain-text stderr handler that does not propagate: every line would leave unredacted
    (monitoring.logging). Its records go through the settings' stdout handler instead."""
    _through_the_root_handler(logger)


@after_setup_logger.connect
def pool_logs_redacted(**kwargs: object) -> None:
    """The same for the pool's logger (billiard's ``multiprocessing``), which Celery sets up alike."""
    _through_the_root_handler(get_multiprocessing_logger())


@worker_process_init.connect
def warm_models(**kwargs: object) -> None:
    """Load the champion models when a worker process starts, not on its first task."""
    try:
        from scoring.choices import ModelPurpose
        from scoring.ml.predictor import get_model

        for purpose in ModelPurpose.values:
            get_model(purpose)
    except Exception:  # a worker without a database or a model still starts; tasks report it
        logger.warning("could not warm the models at worker start", exc_info=True)


@worker_process_shutdown.connect
def forget_process_metrics(pid: int | None = None, **kwargs: object) -> None:
    """Prometheus multiprocess mode (gunicorn.conf.py): a worker child that ends drops its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


# The periodic tasks beat itself writes into django-celery-beat's table at every start, with the
# setting each comes from: the entries of CELERY_BEAT_SCHEDULE, and Celery's own clean-up of
# task results when CELERY_RESULT_EXPIRES is set. Beat writes their task, schedule, arguments
# and options over the row (an edit lasts until its next start) but never their "enabled" flag
# (a task disabled in the admin would stay off), and recreates a deleted one: the admin shows
# them read-only (monitoring.admin). The schedules admins own (the nightly drift report, the
# monthly performance report) come from data migrations and are not among them.
BACKEND_CLEANUP_TASK = "celery.backend_cleanup"


def platform_periodic_tasks() -> dict[str, str]:
    """Name of each platform-managed periodic task -> the setting that configures it."""
    from django.conf import settings

    tasks = dict.fromkeys(settings.CELERY_BEAT_SCHEDULE, "CELERY_BEAT_SCHEDULE")
    if settings.CELERY_RESULT_EXPIRES:
        tasks[BACKEND_CLEANUP_TASK] = "CELERY_RESULT_EXPIRES"
    return tasks
