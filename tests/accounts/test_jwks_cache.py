"""The JWKS cache against a hostile or broken key endpoint (a local HTTP server, no provider)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.tokens import JwksCache, JwksUnavailable


class KeyEndpoint(BaseHTTPRequestHandler):
    """Serves ``server.answer`` = (status, headers, body) and counts requests."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status, headers, body = self.server.answer  # type: ignore[attr-defined]
        self.server.hits += 1  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeyEndpoint)
    server.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/jwks"


def serve(server: ThreadingHTTPServer, status: int, body: object, **headers: str) -> None:
    server.answer = (status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode())  # type: ignore[attr-defined]


def test_redirect_from_the_key_endpoint_is_not_followed(endpoint: ThreadingHTTPServer) -> None:
    serve(endpoint, 302, {}, Location=url(endpoint) + "-elsewhere")
    with pytest.raises(JwksUnavailable):
        JwksCache(url(endpoint)).get_key("any")
    assert endpoint.hits == 1  # type: ignore[attr-defined]


def test_symmetric_keys_in_the_key_set_are_never_used(endpoint: ThreadingHTTPServer) -> None:
    serve(endpoint, 200, {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"}]})
    assert JwksCache(url(endpoint)).get_key("hmac") is None


def test_broken_answer_is_not_a_key_set(endpoint: ThreadingHTTPServer) -> None:
    serve(endpoint, 200, ["not", "a", "key", "set"])
    with pytest.raises(JwksUnavailable):
        JwksCache(url(endpoint)).get_key("any")


def test_failed_fetches_are_limited_too(endpoint: ThreadingHTTPServer) -> None:
    serve(endpoint, 500, {})
    cache = JwksCache(url(endpoint))
    for _ in range(20):
        with pytest.raises(JwksUnavailable):
            cache.get_key("any")
    assert endpoint.hits == 1  # type: ignore[attr-defined]


def test_non_http_key_endpoint_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="http"):
        JwksCache("file:///etc/passwd")


def test_every_fetch_attempt_is_announced(endpoint: ThreadingHTTPServer) -> None:
    from accounts.signals import jwks_fetched

    seen: list[bool] = []

    def record(sender: object, uri: str, ok: bool, **kwargs: object) -> None:
        seen.append(ok)

    jwks_fetched.connect(record)
    try:
        serve(endpoint, 500, {})
        with pytest.raises(JwksUnavailable):
            JwksCache(url(endpoint)).get_key("any")
    finally:
        jwks_fetched.disconnect(record)
    assert seen == [False]
