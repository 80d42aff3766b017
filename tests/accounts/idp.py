"""The real OpenID Connect provider of the tests (accounts/devidp/idp.mjs) and helpers to drive it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import jwt
import requests

IDP_DIR = Path(__file__).resolve().parents[2] / "accounts" / "devidp"
API_RESOURCE = "http://127.0.0.1:8000/api"
API_AUDIENCE = "credit-api"
CLIENT_ID = "credit-app"
CLIENT_SECRET = "credit-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provider_available() -> bool:
    return bool(shutil.which("node")) and (IDP_DIR / "node_modules" / "oidc-provider").is_dir()


@dataclass
class Provider:
    """A running ``idp.mjs``: its issuer, its private keys (to forge tokens) and test hooks."""

    port: int
    process: subprocess.Popen[str]
    private_jwks: dict[str, object]
    output: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, object]:
        """Django settings that point the platform at this provider."""
        return {
            "OIDC_ENABLED": True,
            "OIDC_API_ENABLED": True,
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_ISSUER": self.issuer,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.issuer}/auth",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.issuer}/me",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.issuer}/jwks",
            "OIDC_OP_LOGOUT_ENDPOINT": f"{self.issuer}/session/end",
            "OIDC_API_AUDIENCE": API_AUDIENCE,
        }

    def private_key(self, alg: str = "RS256") -> tuple[str, object]:
        """(kid, private key) of the provider's signing key for ``alg``."""
        for entry in self.private_jwks["keys"]:
            if entry["alg"] == alg:
                return entry["kid"], jwt.PyJWK(entry).key
        raise KeyError(alg)

    def public_jwks(self) -> dict[str, object]:
        return requests.get(f"{self.issuer}/jwks", timeout=5).json()

    def set_groups(self, user: str, groups: list[str]) -> None:
        response = requests.post(f"{self.issuer}/dev/users/{user}/groups", json={"groups": groups}, timeout=5)
        response.raise_for_status()

    def jwks_requests(self) -> int:
        return int(requests.get(f"{self.issuer}/dev/stats", timeout=5).json()["jwks_requests"])

    def client_token(self, client: str = "scoring-service", alg: str = "RS256") -> str:
        """An access token (JWT for the API) minted with the client-credentials grant."""
        response = requests.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client,
                "client_secret": f"{client}-secret",
                "resource": API_RESOURCE + ("-es" if alg == "ES256" else ""),
                "scope": "api:read",
            },
            timeout=5,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def user_token(self, username: str) -> str:
        """A person's access token for the API: authorization code flow with PKCE and ``resource``."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect_uri = "http://testserver/oidc/callback/"
        query = urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": redirect_uri,
                "scope": "openid api:read",
                "resource": API_RESOURCE,
                "state": secrets.token_urlsafe(8),
                "nonce": secrets.token_urlsafe(8),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        callback = login_at_provider(requests.Session(), f"{self.issuer}/auth?{query}", username, redirect_uri)
        code = parse_qs(urlsplit(callback).query)["code"][0]
        response = requests.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "code_verifier": verifier,
                "resource": API_RESOURCE,
            },
            timeout=5,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_provider(redirect_uris: list[str], workdir: Path, attempts: int = 3) -> Provider:
    """Start ``node idp.mjs <free port>`` and wait for its ready line.

    A free port can be taken by another process between the probe and node's bind, and a
    loaded CI machine can be slow to start node: retry on a fresh port before failing.
    """
    failures: list[str] = []
    for _ in range(attempts):
        provider = _start_provider_once(redirect_uris, workdir, failures)
        if provider is not None:
            return provider
    raise RuntimeError("the OIDC provider did not start:\n" + "\n---\n".join(failures))


def _start_provider_once(redirect_uris: list[str], workdir: Path, failures: list[str]) -> Provider | None:
    port = free_port()
    keys_file = workdir / "idp-private-jwks.json"
    env = {
        **os.environ,
        "IDP_REDIRECT_URIS": ",".join(redirect_uris),
        "IDP_EXPORT_PRIVATE_JWKS": str(keys_file),
        "IDP_API_RESOURCE": API_RESOURCE,
        "IDP_API_AUDIENCE": API_AUDIENCE,
    }
    process = subprocess.Popen(
        ["node", "idp.mjs", str(port)],
        cwd=IDP_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if line.startswith("IDP READY"):
                ready.set()
        ready.set()  # node exited: stop waiting

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(timeout=60)
    if not any(line.startswith("IDP READY") for line in output):
        exit_code = process.poll()
        if exit_code is None:
            process.kill()
            process.wait(timeout=5)
        failures.append(f"port {port}, exit code {exit_code}:\n" + "\n".join(output))
        return None
    provider = Provider(port=port, process=process, private_jwks=json.loads(keys_file.read_text()), output=output)
    keys_file.unlink()
    return provider


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def login_at_provider(session: requests.Session, url: str, username: str, stop_prefix: str) -> str:
    """Walk the provider's login and consent pages; return the redirect back to ``stop_prefix``."""
    for _ in range(10):
        response = session.get(url, allow_redirects=False, timeout=10)
        while response.is_redirect:
            url = urljoin(response.url, response.headers["Location"])
            if url.startswith(stop_prefix):
                return url
            response = session.get(url, allow_redirects=False, timeout=10)
        match = _FORM.search(response.text)
        if not match:
            raise AssertionError(f"no form at {url}: {response.status_code} {response.text[:300]}")
        action, form = unescape(match.group(1)), match.group(2)
        data = {name: unescape(value) for name, value in _HIDDEN.findall(form)}
        if 'name="login"' in form:
            data.update({"login": username, "password": "any-password"})
        response = session.post(action, data=data, allow_redirects=False, timeout=10)
        if not response.is_redirect:
            raise AssertionError(f"form post at {action} answered {response.status_code}")
        url = urljoin(response.url, response.headers["Location"])
        if url.startswith(stop_prefix):
            return url
    raise AssertionError("the provider never redirected back")


def silent_redirects(session: requests.Session, url: str, stop_prefix: str) -> str:
    """Follow redirects only (a ``prompt=none`` round trip); fail if the provider shows a page."""
    for _ in range(10):
        response = session.get(url, allow_redirects=False, timeout=10)
        assert response.is_redirect, f"the provider showed a page ({response.status_code}) instead of redirecting"
        url = urljoin(response.url, response.headers["Location"])
        if url.startswith(stop_prefix):
            return url
    raise AssertionError("too many redirects")
