"""Signed outgoing webhooks, shared by the apps that notify other systems.

Each request is a JSON POST with two headers:

- ``X-Credit-Event``: the event name (``drift_alert``, ``decision.final``, ``decision.withdrawn``...);
- ``X-Credit-Signature``: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>``.

The receiver recomputes the HMAC over the raw body with the same secret, compares in
constant time and refuses a timestamp older than a few minutes (replays). ``verify_signature``
below is the reference implementation.

A URL a caller registers (decision webhooks) must lead to a public address: the platform
posts from inside its own network, so ``http://169.254.169.254/`` (cloud metadata),
``http://127.0.0.1:6379/`` or a private range would let any caller with the ``score``
scope make the platform call its neighbours (SSRF). ``webhook_url_problem`` refuses such
a URL when it is registered (an IP literal, ``localhost``); ``webhook_post(public_only=True)``
resolves the host again at each delivery and refuses when any address is internal, then
checks the address it actually connected to (a name may resolve to a public address when
checked and to ``127.0.0.1`` a moment later: DNS rebinding).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

SIGNATURE_HEADER = "X-Credit-Signature"
EVENT_HEADER = "X-Credit-Event"


class WebhookError(Exception):
    """A delivery that may succeed if tried again (connection refused, timeout, 5xx)."""


class WebhookRetry(WebhookError):
    """An attempt failed and retries are left: try again after ``countdown`` seconds."""

    def __init__(self, message: str, *, countdown: float) -> None:
        super().__init__(message)
        self.countdown = countdown


class WebhookTargetRefused(Exception):
    """The URL leads to an internal address: not called, and trying again would not help."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names of this machine or of a local network, refused as a host (RFC 6761 .localhost, mDNS
# .local, ICANN's private-use .internal, e.g. metadata.google.internal).
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def internal_address_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address ("loopback", "private"...), or None when it is one.

    An IPv6 address carrying an IPv4 one (mapped ``::ffff:127.0.0.1``, 6to4, Teredo, NAT64)
    is judged by the IPv4 address it leads to.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return internal_address_kind(embedded)
    for kind, flagged in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flagged:
            return kind
    return None if ip.is_global else "non-public"  # e.g. 100.64.0.0/10, carrier-grade NAT


def webhook_url_problem(url: str) -> str | None:
    """Why the platform will not call ``url``, or None: a scheme other than http(s), a host that
    names this machine or a local network, or an IP literal that is not a public address.

    No DNS look-up here (a name's addresses can change after it is checked): delivery checks them.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "Only http and https URLs are called."
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        return "The port is not a number from 0 to 65535."
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "The URL names no host."
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES):
        return f"{host} names this machine or a local network: a webhook must be a public address."
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: resolved and checked at each delivery
    kind = internal_address_kind(ip)
    return f"{host} is a {kind} address: a webhook must be a public address." if kind else None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def webhook_url_normal(url: str) -> str:
    """``url`` written one way, so that two spellings of one target are one webhook: the scheme
    and the host lowercased (neither is case-sensitive), the scheme's default port (``:80``,
    ``:443``) dropped and an empty path written ``/``. User info, path, query and fragment are
    kept as sent (they are case-sensitive). Call on a URL that passed ``URLValidator``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if hostport.startswith("["):  # an IPv6 literal: its colons are not the port's
        end = hostport.find("]") + 1
        host, port_text = hostport[:end], hostport[end:].removeprefix(":")
    else:
        host, _, port_text = hostport.partition(":")
    port = f":{port_text}" if port_text and int(port_text) != _DEFAULT_PORTS.get(scheme) else ""
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{scheme}://{userinfo}{at}{host.lower()}{port}{parts.path or '/'}{query}{fragment}"


def _public_target_check(url: str) -> None:
    """Raise ``WebhookTargetRefused`` when ``url`` or any address its host resolves to is internal;
    ``WebhookError`` when the name does not resolve (DNS may answer next time)."""
    problem = webhook_url_problem(url)
    if problem:
        raise WebhookTargetRefused(problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookError(f"not delivered: {host} does not resolve") from exc
    for *_, sockaddr in found:
        address = str(sockaddr[0])
        kind = internal_address_kind(ipaddress.ip_address(address))
        if kind:
            raise WebhookTargetRefused(f"{host} resolves to {address}, a {kind} address")


class _PublicPeerMixin:
    """A connection that closes and refuses when the address it reached is internal."""

    host: str

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        address = str(sock.getpeername()[0])
        kind = internal_address_kind(ipaddress.ip_address(address))
        if kind:
            sock.close()
            raise WebhookTargetRefused(f"{self.host} connected to {address}, a {kind} address")
        return sock


class _PublicHTTPConnection(_PublicPeerMixin, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicPeerMixin, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    """requests' adapter whose connections check the address they reached (see the module's docstring)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` seconds old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), f"t={timestamp},v1={parts.get('v1', '')}")


def webhook_post(
    *,
    url: str,
    secret: str,
    payload: dict[str, Any],
    timeout: float,
    event: str | None = None,
    public_only: bool = False,
) -> str:
    """Deliver one event; returns a short outcome ("delivered: HTTP 200", "refused: HTTP 400").

    Raises ``WebhookError`` when trying again may help. Redirects are not followed: a
    signed payload goes where it was configured to go, nowhere else. With ``public_only``
    (a URL a caller registered) an internal target raises ``WebhookTargetRefused`` and
    nothing is sent; an operator's own URL (the drift alerts') may be internal.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: event or str(payload.get("event", "")),
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
    }
    if public_only:
        _public_target_check(url)
    try:
        with requests.Session() as session:
            if public_only:
                session.mount("http://", _PublicOnlyAdapter())
                session.mount("https://", _PublicOnlyAdapter())
            response = session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise WebhookError(f"not delivered: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise WebhookError(f"not delivered: HTTP {response.status_code}")
    if response.status_code >= 300:
        return f"refused: HTTP {response.status_code}"
    return f"delivered: HTTP {response.status_code}"
