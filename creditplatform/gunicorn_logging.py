"""gunicorn's access and error logs without credentials or personal data (``gunicorn.conf.py``).

The access line's request and referer carry paths and query strings (client ids, searched
names), its remote address and basic-auth user identify people, and a custom
``access_log_format`` may print any header. Each line goes through the same redaction as
the application's JSON logs (``monitoring.logging``): query values and API ids removed or
pseudonymised, tokens and keys dropped; the address and the user become keyed pseudonyms
(``h:…``, the same value always gives the same pseudonym, so one caller's lines still match).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from monitoring.logging import REDACTED, SENSITIVE_KEYS, RedactingFilter, pseudonym


class RedactingLogger(Logger):
    """gunicorn's logger with ``RedactingFilter`` on its error and access logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in ("h", "u"):
            if atoms.get(name) not in (None, "", "-"):
                atoms[name] = pseudonym(str(atoms[name]))
        for key in atoms:
            # Headers ({name}i, {name}o) and environ ({name}e) a custom format may print.
            if key.startswith("{") and key[1:-2].replace("-", "_") in _SENSITIVE_NAMES:
                atoms[key] = REDACTED
        return atoms


_SENSITIVE_NAMES = {name.replace("-", "_") for name in SENSITIVE_KEYS} | {"x_api_key", "http_x_api_key"}
