"""WSGI entry point (gunicorn creditplatform.wsgi).

Django's handler, behind the decision fast path (``creditplatform.fastpath``): the usual
``POST /score`` and ``POST /fraude`` are answered there, everything else by Django.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")

django_application = get_wsgi_application()

from creditplatform.fastpath import FastPathApplication  # noqa: E402  (needs the settings set up)

application = FastPathApplication(django_application)
