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


@pytest.fixture
def shared_cache(endpoint: ThreadingHTTPServer) -> Iterator[object]:
    """The Django cache (Redis when REDIS_URL is set) as the store shared by 'processes'."""
    from django.core.cache import cache

    yield cache
    probe = JwksCache(url(endpoint), shared=cache)
    cache.delete_many([probe._doc_key, probe._gate_key])


def a_key_set() -> dict[str, object]:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return {"keys": [{**RSAAlgorithm.to_jwk(public, as_dict=True), "kid": "k1", "alg": "RS256", "use": "sig"}]}


def test_processes_sharing_a_cache_fetch_the_key_set_once(endpoint: ThreadingHTTPServer, shared_cache: object) -> None:
    serve(endpoint, 200, a_key_set())
    processes = [JwksCache(url(endpoint), shared=shared_cache) for _ in range(3)]
    assert all(process.get_key("k1") is not None for process in processes)
    assert endpoint.hits == 1  # type: ignore[attr-defined]


def test_unknown_kids_across_processes_cost_one_fetch_a_minute(
    endpoint: ThreadingHTTPServer, shared_cache: object
) -> None:
    serve(endpoint, 200, a_key_set())
    processes = [JwksCache(url(endpoint), shared=shared_cache) for _ in range(3)]
    for n in range(30):
        assert processes[n % 3].get_key(f"random-{n}") is None
    assert endpoint.hits == 1  # type: ignore[attr-defined]


def test_provider_outage_is_probed_once_a_minute_by_the_whole_deployment(
    endpoint: ThreadingHTTPServer, shared_cache: object
) -> None:
    serve(endpoint, 500, {})
    for _ in range(3):  # three processes, each with its own (empty) cache
        with pytest.raises(JwksUnavailable):
            JwksCache(url(endpoint), shared=shared_cache).get_key("k1")
    assert endpoint.hits == 1  # type: ignore[attr-defined]


def test_without_a_shared_cache_each_process_probes_on_its_own(endpoint: ThreadingHTTPServer) -> None:
    serve(endpoint, 500, {})
    for _ in range(3):
        with pytest.raises(JwksUnavailable):
            JwksCache(url(endpoint)).get_key("k1")
    assert endpoint.hits == 3  # type: ignore[attr-defined]
