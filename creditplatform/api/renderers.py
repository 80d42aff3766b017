"""The API's JSON renderer: DRF's ``JSONRenderer`` output, written by orjson.

orjson writes the same JSON several times faster than ``json.dumps`` with DRF's encoder
(docs/performance.md). What orjson does not write itself goes through DRF's own encoder
(``default``): decimals as numbers, datetimes, dates and times as DRF writes them (UTC as
``Z``), lazy strings, numpy values, querysets, generators. UUIDs are written as ``str()``
does, strings as UTF-8 as ``UNICODE_JSON`` asks, ``\\u2028``/``\\u2029`` escaped as DRF does.
Anything orjson refuses (an integer beyond 64 bits, a key that is not a string, a lone
surrogate) and every indented rendering (``; indent=4``, the browsable API) is handed to
DRF's renderer, so the answer is the one DRF gives. Two differences, on purpose: a NaN or
infinite float is written ``null`` (DRF's strict mode raises, a 500), and a string holding
a lone surrogate, which no UTF-8 can carry (DRF's renderer raises, a 500), is written as
DRF writes it with ``ensure_ascii``: escaped (``"\\ud800"``), the rest of the answer intact.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_default = JSONEncoder().default  # DRF's conversions for what orjson passes through or does not know


class _AsciiJSONRenderer(JSONRenderer):
    ensure_ascii = True  # every non-ASCII character escaped: a lone surrogate too


_ascii = _AsciiJSONRenderer()


class OrjsonRenderer(JSONRenderer):
    """``JSONRenderer`` with orjson for compact output; DRF's own rendering for the rest."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        if (
            self.ensure_ascii
            or not self.compact
            or self.get_indent(accepted_media_type or "", renderer_context or {}) is not None
        ):
            return self._drf_render(data, accepted_media_type, renderer_context)
        try:
            out = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return self._drf_render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80\xa8" in out or b"\xe2\x80\xa9" in out:
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out

    def _drf_render(self, data: Any, accepted_media_type: str | None, renderer_context: Any) -> bytes:
        """DRF's rendering; escaped as ASCII when a string holds a lone surrogate."""
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _ascii.render(data, accepted_media_type, renderer_context)
