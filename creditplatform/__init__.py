"""Credit decision platform: Django project package.

The Celery app is imported here so that ``shared_task`` binds to it in every process
(otherwise tasks fall back to Celery's default app and lose the result backend).
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
