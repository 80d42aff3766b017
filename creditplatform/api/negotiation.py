"""Content negotiation: DRF's, with the usual answer found without parsing.

Almost every API call sends no ``Accept`` header, ``*/*`` or ``application/json``; for
those DRF's ``DefaultContentNegotiation`` parses the header into media types, orders them
by precedence and matches each against each renderer to pick the first renderer (JSON):
165,000 CPU instructions per request with the browsable API's renderer listed, as outside
production (docs/performance.md, "Fifth round"). Here those three values, with no format
override, go straight to the answer DRF would give; every other request is negotiated by
DRF itself (quality values, parameters, ``?format=``, 406 for what cannot be served).
``tests/test_negotiation.py`` holds the two equal over many headers.
"""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

_USUAL = frozenset({"*/*", "application/json"})


class JsonFirstContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers) if not isinstance(renderers, list | tuple) else renderers
        meta = request.META
        accept = meta.get("HTTP_ACCEPT")
        if (
            format_suffix is None
            and renderers
            and (accept is None or accept in _USUAL)
            and renderers[0].media_type == "application/json"
            and not (meta.get("QUERY_STRING") and request.query_params.get(self.settings.URL_FORMAT_OVERRIDE or ""))
        ):
            return renderers[0], "application/json"
        result: tuple[BaseRenderer, str] = super().select_renderer(request, renderers, format_suffix)
        return result
