"""Celery application.

With ``CELERY_BROKER_URL`` unset (the embedded default) tasks run in-process
(``task_always_eager``); with a broker URL the same code runs on real workers.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")

app = Celery("creditplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
