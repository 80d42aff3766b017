"""``hot_settings``: the settings the decision path reads on every request, as plain attributes.

A read of ``django.conf.settings.X`` runs ``LazyObject.__getattribute__``, a Python function
(Django 4.1 and later): about 3,300 instructions, counted with callgrind, against about 170
for a plain attribute. ``/fraude`` read settings 65 times a request and ``/score`` 56; 32 and
31 of those reads were the platform's own, and reading them here took 81,000 instructions off
each request (2.3 % of ``/fraude``, 3.1 % of ``/score``). The rest are Django's own.

``hot_settings.X`` is ``settings.X`` read once and then kept as an attribute of this object,
until Django's ``setting_changed`` signal names ``X``: ``override_settings``,
``modify_settings`` and pytest-django's ``settings`` fixture send it when they change a
setting and again when they restore it. Settings do not change otherwise while the process
runs; a direct ``settings.X = value`` (which sends nothing) is not seen here, so tests change
settings through the fixture or ``override_settings``. Only for the request path: anything
else reads ``django.conf.settings`` as usual.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed


class HotSettings:
    """Each setting read from ``django.conf.settings`` on first use, then a plain attribute."""

    def __getattr__(self, name: str) -> Any:  # only for a name not kept yet
        value = getattr(settings, name)  # an unknown setting raises AttributeError, as there
        self.__dict__[name] = value
        return value

    def forget(self, name: str) -> None:
        self.__dict__.pop(name, None)


hot_settings = HotSettings()


def _forget_changed(*, setting: str, **kwargs: Any) -> None:
    hot_settings.forget(setting)


setting_changed.connect(_forget_changed, dispatch_uid="creditplatform.hot_settings")
