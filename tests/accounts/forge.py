"""Build hostile tokens: the forged-token matrix of the bearer tests."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.accounts.idp import API_AUDIENCE, Provider


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(idp: Provider, **overrides: Any) -> dict[str, Any]:
    """An RFC 9068 access token's claims, as the provider issues them; ``None`` drops a claim."""
    now = int(time.time())
    base = {
        "iss": idp.issuer,
        "aud": API_AUDIENCE,
        "sub": "forger",
        "client_id": "forger-client",
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 300,
        "groups": ["admin"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def signed(idp: Provider, alg: str = "RS256", headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    """Signed with the provider's real key, with its ``typ: at+jwt`` header: only what is overridden is wrong.

    A header set to None is left out (``typ`` included).
    """
    kid, key = idp.private_key(alg)
    return jwt.encode(
        claims(idp, **overrides), key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt", **(headers or {})}
    )


@functools.cache
def _attacker_key() -> rsa.RSAPrivateKey:
    """A key the provider never published (one per session: generating RSA keys is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def alg_none(idp: Provider) -> str:
    kid, _ = idp.private_key("RS256")
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{b64(json.dumps(claims(idp)).encode())}."


def hs256_with_public_key(idp: Provider) -> str:
    """The classic algorithm confusion: HMAC keyed with the provider's public key (PEM)."""
    kid, private = idp.private_key("RS256")
    pem = private.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}."
        f"{b64(json.dumps(claims(idp)).encode())}"
    )
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def other_key_real_kid(idp: Provider) -> str:
    kid, _ = idp.private_key("RS256")
    return jwt.encode(claims(idp), _attacker_key(), algorithm="RS256", headers={"kid": kid})


def unknown_kid(idp: Provider, kid: str = "attacker-key") -> str:
    return jwt.encode(claims(idp), _attacker_key(), algorithm="RS256", headers={"kid": kid})


def tampered_payload(idp: Provider) -> str:
    """A genuine token whose payload was edited to add the admin role."""
    header, _, signature = idp.client_token("reporting-service").split(".")
    return f"{header}.{b64(json.dumps(claims(idp, groups=['admin'])).encode())}.{signature}"


now = lambda: int(time.time())  # noqa: E731

# name -> (builder, the reason code the platform must give when refusing it)
FORGERIES: dict[str, tuple[Callable[[Provider], str], str]] = {
    "alg none": (alg_none, "jwt_alg_not_allowed"),
    "HS256 keyed with the public key": (hs256_with_public_key, "jwt_alg_not_allowed"),
    "another key with a real kid": (other_key_real_kid, "jwt_bad_signature"),
    "unknown kid": (unknown_kid, "jwt_unknown_kid"),
    "tampered payload": (tampered_payload, "jwt_bad_signature"),
    "expired": (lambda idp: signed(idp, exp=now() - 3600, iat=now() - 7200), "jwt_expired"),
    "not yet valid": (lambda idp: signed(idp, nbf=now() + 3600), "jwt_not_yet_valid"),
    "issued in the future": (lambda idp: signed(idp, iat=now() + 3600, exp=now() + 7200), "jwt_not_yet_valid"),
    "wrong audience": (lambda idp: signed(idp, aud="another-api"), "jwt_wrong_audience"),
    "wrong issuer": (lambda idp: signed(idp, iss="http://127.0.0.1:1/evil"), "jwt_wrong_issuer"),
    "no expiry": (lambda idp: signed(idp, exp=None), "jwt_missing_claim"),
    "no subject": (lambda idp: signed(idp, sub=None), "jwt_missing_claim"),
    "ID token of the web client": (lambda idp: signed(idp, aud="credit-app", nonce="n"), "jwt_wrong_audience"),
    "garbage": (lambda idp: "not-a-token", "jwt_malformed"),
    "three garbage segments": (lambda idp: "abc.def.ghi", "jwt_malformed"),
    "empty signature": (lambda idp: signed(idp).rsplit(".", 1)[0] + ".", "jwt_bad_signature"),
    "header nested 2000 deep": (lambda idp: f"{b64(b'[' * 2000)}.{b64(b'{}')}.c2ln", "jwt_malformed"),
    "oversized (64 KB)": (lambda idp: signed(idp, padding="x" * 65536), "jwt_malformed"),
    # Signed by the provider's key, but what PyJWT alone lets through:
    "expiry as a string": (lambda idp: signed(idp, exp=str(now() + 300)), "jwt_bad_claim"),
    "issue time as a string": (lambda idp: signed(idp, iat=str(now())), "jwt_bad_claim"),
    "not-before as a string": (lambda idp: signed(idp, nbf=str(now())), "jwt_bad_claim"),
    "issue time not a number": (lambda idp: signed(idp, iat="x"), "jwt_bad_claim"),
    "expiry true (1 to int)": (lambda idp: signed(idp, exp=True), "jwt_bad_claim"),
    "not-before true": (lambda idp: signed(idp, nbf=True), "jwt_bad_claim"),
    "expiry far beyond any date": (lambda idp: signed(idp, exp=1e308), "jwt_lifetime_too_long"),
    "empty subject": (lambda idp: signed(idp, sub=""), "jwt_bad_claim"),
    "a 300-character subject": (lambda idp: signed(idp, sub="s" * 300), "jwt_bad_claim"),
    "subject not a string": (lambda idp: signed(idp, sub=12345), "jwt_invalid"),
    "a lifetime of ten years": (lambda idp: signed(idp, exp=now() + 10 * 365 * 86400), "jwt_lifetime_too_long"),
    "a lifetime of two hours": (lambda idp: signed(idp, exp=now() + 7200), "jwt_lifetime_too_long"),
    "several audiences": (lambda idp: signed(idp, aud=[API_AUDIENCE, "another-api"]), "jwt_untrusted_audience"),
    "several audiences with an azp": (
        lambda idp: signed(idp, aud=[API_AUDIENCE, "another-api"], azp="forger-client"),
        "jwt_untrusted_audience",
    ),
    "typ JWT (not an access token)": (lambda idp: signed(idp, headers={"typ": "JWT"}), "jwt_wrong_type"),
    "no typ header": (lambda idp: signed(idp, headers={"typ": None}), "jwt_wrong_type"),
    "no client_id (RFC 9068)": (lambda idp: signed(idp, client_id=None), "jwt_missing_claim"),
    "empty client_id": (lambda idp: signed(idp, client_id=""), "jwt_bad_claim"),
    "no jti (RFC 9068)": (lambda idp: signed(idp, jti=None), "jwt_missing_claim"),
    "expires before it starts": (lambda idp: signed(idp, nbf=now() + 10, exp=now() + 5), "jwt_bad_claim"),
}
