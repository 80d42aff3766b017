"""gunicorn's access and error logs without credentials or personal data (``gunicorn.conf.py``).

The access line's request and referer carry paths and query strings (client ids, searched
names), its remote address and basic-auth user identify people, and a custom
``access_log_format`` may print any header. Each line goes through the same redaction as
the application's JSON logs (``monitoring.logging``): query values and API ids removed or
pseudonymised, tokens and keys dropped; the address and the user become keyed pseudonyms
(``h:…``, the same value always gives the same pseudonym, so one caller's lines still match).
"""

from __future__ import annotations

from typing import Any, NamedTuple

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
        if "{" not in self.cfg.access_log_format:
            # The format prints no header ({name}i, {name}o) or environ ({name}e) atom, as the
            # default does: gunicorn's own atoms need only a few environ keys and the response's
            # status and size, not an atom for each header and environ key (about 40 of them,
            # built, checked below and thrown away: a third of this logger's cost).
            environ = {name: environ[name] for name in _BASE_ATOM_ENVIRON if name in environ}
            req, resp = (), _Sent(resp.status, getattr(resp, "sent", None), ())
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in ("h", "u"):
            atoms[name] = _pseudonymised(atoms.get(name))
        for key, value in atoms.items():
            # Headers ({name}i, {name}o) and environ ({name}e) a custom format may print.
            if key.startswith("{"):
                name = key[1:-2].replace("-", "_")
                if name in _SENSITIVE_NAMES:
                    atoms[key] = REDACTED
                elif name in _ADDRESS_NAMES:
                    atoms[key] = _pseudonymised(value)
        return atoms


def _pseudonymised(value: Any) -> Any:
    """An address or user as its keyed pseudonym; an absent one ("-") as it is."""
    return value if value in (None, "", "-") else pseudonym(str(value))


class _Sent(NamedTuple):
    """What gunicorn's base atoms read of a response, without its headers."""

    status: Any
    sent: int | None
    headers: tuple[()]


# The environ keys gunicorn's base atoms (h, u, r, m, U, q, H, f, a) read.
_BASE_ATOM_ENVIRON = (
    "REMOTE_ADDR",
    "HTTP_AUTHORIZATION",
    "REQUEST_METHOD",
    "RAW_URI",
    "SERVER_PROTOCOL",
    "PATH_INFO",
    "QUERY_STRING",
    "HTTP_REFERER",
    "HTTP_USER_AGENT",
)

_SENSITIVE_NAMES = {name.replace("-", "_") for name in SENSITIVE_KEYS} | {"x_api_key", "http_x_api_key"}
# Where a client's address may be printed besides %(h)s: pseudonymised as it is.
_ADDRESS_NAMES = {
    prefix + name for name in ("x_forwarded_for", "forwarded", "x_real_ip") for prefix in ("", "http_")
} | {"remote_addr"}
