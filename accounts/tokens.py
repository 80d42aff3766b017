"""Local validation of JWTs signed by the OpenID Connect provider (access and ID tokens).

Nothing here trusts the token's header beyond choosing a key: the algorithm must be on an
allow-list of asymmetric algorithms *and* match the key found by ``kid`` in the provider's
JWKS (so ``none`` and HS256-keyed-with-the-public-key are refused before any crypto);
``jku``/``x5u``/``jwk``/``x5c`` headers are ignored. Signature, ``iss``, ``aud``, ``exp``,
``nbf`` and ``iat`` are checked by PyJWT with a small leeway; then what PyJWT lets through
(``check_claims``): times that are strings (PyJWT converts ``"9999999999"`` with ``int()``),
an empty subject, a lifetime longer than the policy allows, audiences beyond ours, and, for
API access tokens, RFC 9068's ``typ: at+jwt`` header and its ``client_id`` and ``jti`` claims.

The JWKS is cached in the process. A token with an unknown ``kid`` (key rotation, or an
attacker) triggers a refetch at most once per ``min_refresh_interval`` seconds, with a
short timeout and no redirects: a flood of random ``kid``s costs the provider one request
a minute, not one per token.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings

from accounts.signals import jwks_fetched

logger = logging.getLogger(__name__)

# Asymmetric algorithms only: an HMAC algorithm would let anyone holding the provider's
# *public* key sign tokens.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"})
MAX_TOKEN_LENGTH = 8192
MAX_JWKS_BYTES = 256 * 1024


class TokenRejected(Exception):
    """A token that must not be accepted. ``reason`` is a short code, safe to log and count."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class JwksUnavailable(Exception):
    """The provider's keys could not be fetched and none are cached: tokens cannot be checked."""


class JwksCache:
    """The provider's signing keys, by ``kid``, fetched lazily and refreshed with a cooldown."""

    def __init__(
        self,
        uri: str,
        *,
        lifespan: float = 300,
        min_refresh_interval: float = 60,
        timeout: float = 3,
        clock: Callable[[], float] = time.monotonic,
        shared: Any | None = None,
    ) -> None:
        if not uri.startswith(("https://", "http://")):
            raise ValueError("OIDC_OP_JWKS_ENDPOINT must be an http(s) URL")
        self.uri = uri
        # Optional Django cache shared by every process (Redis): the key set fetched by one
        # process serves all, and the once-a-minute limit holds for the whole deployment.
        self.shared = shared
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        self._doc_key = f"oidc:jwks:{digest}"
        self._gate_key = f"oidc:jwks-fetch:{digest}"
        self._version = 0.0  # wall-clock time of the key set we hold
        self.lifespan = lifespan
        self.min_refresh_interval = min_refresh_interval
        self.timeout = timeout
        self.clock = clock
        self.fetch_count = 0  # fetch attempts, for tests and metrics
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = threading.Lock()

    def get_key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this ``kid``; None when the provider does not publish it."""
        with self._lock:
            now = self.clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.lifespan
            if stale and self._may_fetch(now):
                self._refresh(now)
            key = self._keys.get(kid)
            if key is None and self._may_fetch(now):
                self._refresh(now)  # rotation: the provider may have a new key
                key = self._keys.get(kid)
            if key is None and self._fetched_at is None:
                raise JwksUnavailable("the provider's JWKS could not be fetched")
            return key

    def _may_fetch(self, now: float) -> bool:
        return self._last_attempt is None or now - self._last_attempt >= self.min_refresh_interval

    def _refresh(self, now: float) -> None:
        self._last_attempt = now
        if self.shared is not None:
            if self._adopt_shared(now):
                return  # another process fetched a newer set: no request to the provider
            gate = math.ceil(self.min_refresh_interval)
            shared = self.shared
            if not self._shared_call(lambda: shared.add(self._gate_key, 1, gate), default=True):
                return  # another process fetched less than a minute ago
        self.fetch_count += 1
        try:
            response = requests.get(
                self.uri,
                timeout=self.timeout,
                allow_redirects=False,
                headers={"Accept": "application/json"},
                verify=getattr(settings, "OIDC_VERIFY_SSL", True),
            )
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError("JWKS too large")
            document = response.json()
            keys = self._parse(document)
        except (requests.RequestException, ValueError) as exc:
            # Keep serving the keys we have: an outage of the provider must not lock out
            # callers whose tokens are signed with a known key.
            logger.warning("JWKS fetch failed", extra={"jwks_uri": self.uri, "error": type(exc).__name__})
            jwks_fetched.send(sender=type(self), uri=self.uri, ok=False)
            return
        self._keys = keys
        self._fetched_at = now
        self._version = time.time()
        shared = self.shared
        if shared is not None:
            entry = {"version": self._version, "jwks": document}
            self._shared_call(lambda: shared.set(self._doc_key, entry, math.ceil(self.lifespan)))
        jwks_fetched.send(sender=type(self), uri=self.uri, ok=True)

    def _adopt_shared(self, now: float) -> bool:
        """Take the shared key set if another process fetched it after ours."""
        shared = self.shared
        assert shared is not None
        entry = self._shared_call(lambda: shared.get(self._doc_key))
        if not isinstance(entry, dict) or float(entry.get("version", 0)) <= self._version:
            return False
        try:
            keys = self._parse(entry.get("jwks"))
        except ValueError:
            return False
        age = max(time.time() - float(entry["version"]), 0.0)
        self._keys, self._version, self._fetched_at = keys, float(entry["version"]), now - age
        return True

    def _shared_call(self, call: Callable[[], Any], default: Any = None) -> Any:
        """A shared-cache operation; if the cache is down, ``default`` (as if there were none)."""
        try:
            return call()
        except Exception as exc:  # Redis down or misconfigured: the local limits still hold
            logger.warning("shared JWKS cache unavailable", extra={"error": type(exc).__name__})
            return default

    @staticmethod
    def _parse(document: Any) -> dict[str, jwt.PyJWK]:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK set")
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document["keys"]:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or not entry.get("kid"):
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue  # an algorithm or curve we do not support: skip, do not fail
            if key.algorithm_name in ASYMMETRIC_ALGORITHMS and str(entry["kid"]) not in keys:
                keys[str(entry["kid"])] = key
        return keys


_caches: dict[tuple[str, float, float, float, bool], JwksCache] = {}
_caches_lock = threading.Lock()


def jwks_cache() -> JwksCache:
    """The process-wide cache for the configured JWKS endpoint (one per configuration)."""
    config = (
        settings.OIDC_OP_JWKS_ENDPOINT,
        float(settings.OIDC_JWKS_CACHE_SECONDS),
        float(settings.OIDC_JWKS_MIN_REFRESH_SECONDS),
        float(settings.OIDC_JWKS_TIMEOUT),
        bool(settings.OIDC_JWKS_SHARED_CACHE),
    )
    with _caches_lock:
        cache = _caches.get(config)
        if cache is None:
            from django.core.cache import cache as shared

            cache = JwksCache(
                config[0],
                lifespan=config[1],
                min_refresh_interval=config[2],
                timeout=config[3],
                shared=shared if config[4] else None,
            )
            _caches[config] = cache
        return cache


def reset_jwks_caches() -> None:
    """Forget every cached key set (tests; a provider reconfigured at run time)."""
    with _caches_lock:
        _caches.clear()


@dataclass(frozen=True)
class TokenPolicy:
    """What a valid token looks like for one audience.

    ``token_types``: accepted ``typ`` headers (compared case-insensitively; empty: any).
    ``max_lifetime``: most seconds from ``iat`` to ``exp`` (None: no limit).
    ``extra_audiences``: audiences a token may name beside ours (OIDC Core §3.1.3.7: a token
    listing audiences we do not trust is refused), e.g. a provider's own userinfo audience.
    """

    issuer: str
    audience: str
    algorithms: frozenset[str]
    leeway: int
    required_claims: tuple[str, ...] = ("exp", "iat", "iss", "aud", "sub")
    token_types: frozenset[str] = frozenset()
    max_lifetime: int | None = None
    extra_audiences: frozenset[str] = frozenset()


# RFC 9068 §2.1: "at+jwt", or with its media-type prefix.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
RFC9068_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "client_id", "jti")
MAX_CLAIM_LENGTH = 255


_EXPECTED_ERRORS: list[tuple[type[Exception], str, str]] = [
    (jwt.ExpiredSignatureError, "expired", "The token has expired."),
    (jwt.ImmatureSignatureError, "not_yet_valid", "The token is not valid yet."),
    (jwt.InvalidAudienceError, "wrong_audience", "The token is not meant for this API."),
    (jwt.InvalidIssuerError, "wrong_issuer", "The token was not issued by the trusted provider."),
    # PyJWT's name for an iat it cannot read as a number (one in the future is ImmatureSignatureError).
    (jwt.InvalidIssuedAtError, "bad_claim", "The token's iat is not a number of seconds."),
    (jwt.MissingRequiredClaimError, "missing_claim", "The token lacks a required claim."),
    (jwt.InvalidSignatureError, "bad_signature", "The token's signature is invalid."),
    (jwt.DecodeError, "malformed", "The token is malformed."),
    (jwt.PyJWTError, "invalid", "The token is invalid."),
]


def validate_token(token: str, policy: TokenPolicy, cache: JwksCache | None = None) -> dict[str, Any]:
    """The claims of ``token`` if every check passes; raises ``TokenRejected`` otherwise.

    May raise ``JwksUnavailable`` when the provider has never been reachable.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenRejected("malformed", "The token is malformed.")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, RecursionError):
        raise TokenRejected("malformed", "The token is malformed.") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in policy.algorithms:
        raise TokenRejected("alg_not_allowed", "The token's algorithm is not accepted.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise TokenRejected("kid_missing", "The token names no key.")
    key = (cache or jwks_cache()).get_key(kid)
    if key is None:
        raise TokenRejected("unknown_kid", "The token is signed with an unknown key.")
    if key.algorithm_name != alg:
        raise TokenRejected("alg_key_mismatch", "The token's algorithm does not match its key.")
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=policy.audience,
            issuer=policy.issuer,
            leeway=policy.leeway,
            options={"require": list(policy.required_claims)},
        )
    except (jwt.PyJWTError, ValueError, RecursionError) as exc:
        if isinstance(exc, jwt.ExpiredSignatureError | jwt.ImmatureSignatureError):
            _times_are_numbers(token)
        for error_class, reason, detail in _EXPECTED_ERRORS:
            if isinstance(exc, error_class):
                raise TokenRejected(reason, detail) from None
        raise TokenRejected("malformed", "The token is malformed.") from None
    check_claims(header, claims, policy)
    return claims


def _times_are_numbers(token: str) -> None:
    """``TokenRejected("bad_claim")`` when a time claim is not a number, for a token PyJWT refused
    as expired or not yet valid: it reads ``true`` as 1 (expired since 1970). PyJWT checks the
    times after the signature, so this payload is the signer's own."""
    claims = jwt.decode(token, options={"verify_signature": False})
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_time(claims[name]):
            raise TokenRejected("bad_claim", f"The token's {name} is not a number of seconds.") from None


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_CLAIM_LENGTH


def check_claims(header: dict[str, Any], claims: dict[str, Any], policy: TokenPolicy) -> None:
    """What PyJWT does not check, on a token whose signature and standard claims passed."""
    if policy.token_types:
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in policy.token_types:
            raise TokenRejected("wrong_type", "The token is not an access token (typ must be at+jwt).")
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_time(claims[name]):
            raise TokenRejected("bad_claim", f"The token's {name} is not a number of seconds.")
    if not _is_text(claims.get("sub")):
        raise TokenRejected("bad_claim", "The token's subject is empty or too long.")
    for name in ("client_id", "jti", "azp"):
        if (name in claims or name in policy.required_claims) and not _is_text(claims.get(name)):
            raise TokenRejected("bad_claim", f"The token's {name} is empty or not a string.")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if any(a != policy.audience and a not in policy.extra_audiences for a in audiences):
        raise TokenRejected("untrusted_audience", "The token is also meant for audiences this API does not trust.")
    if len(audiences) > 1 and "azp" not in claims:
        # OIDC Core §3.1.3.7: several audiences call for the authorized party.
        raise TokenRejected("untrusted_audience", "A token for several audiences must name its authorized party.")
    if "nbf" in claims and claims["nbf"] > claims["exp"]:
        raise TokenRejected("bad_claim", "The token expires before it becomes valid.")
    if policy.max_lifetime is not None and claims["exp"] - claims["iat"] > policy.max_lifetime:
        raise TokenRejected(
            "lifetime_too_long", f"The token lives longer than the {policy.max_lifetime} seconds this API accepts."
        )


def roles_from_claims(claims: dict[str, Any]) -> frozenset[str]:
    """Platform roles named by the roles claim (``OIDC_ROLES_CLAIM``, dots for nesting).

    Values map through ``OIDC_ROLE_MAP`` (e.g. ``credit-officers`` → ``analyst``) and,
    by default, a value equal to a role name is that role. Anything else is ignored.
    """
    from accounts.roles import Role

    value: Any = claims
    for part in settings.OIDC_ROLES_CLAIM.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return frozenset()
    mapping: dict[str, str] = {role.value: role.value for role in Role}
    mapping.update(settings.OIDC_ROLE_MAP)
    return frozenset(mapping[item] for item in value if isinstance(item, str) and item in mapping)
