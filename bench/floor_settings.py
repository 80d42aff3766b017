"""Settings of ``make bench``'s framework floor: the platform's own settings, plus two empty endpoints.

Everything the platform's requests go through (middleware, authentication, throttling,
parsing, rendering, database and cache configuration) is the platform's; only the URLconf
adds ``bench/floor/django`` and ``bench/floor/drf`` (``bench/floor_urls.py``). Served by
``gunicorn creditplatform.wsgi`` with ``DJANGO_SETTINGS_MODULE=bench.floor_settings``.
"""

from creditplatform.settings import *  # noqa: F403  (the platform's settings, unchanged)

ROOT_URLCONF = "bench.floor_urls"
