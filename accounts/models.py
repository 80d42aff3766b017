"""API keys for service accounts (loan-origination front ends, payment systems)."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.roles import Role


class ApiKeyScope(models.TextChoices):
    SCORE = "score", "Credit decisions (/score)"
    FRAUD = "fraud", "Fraud decisions (/fraude)"
    READ = "read", "Read records (/api/v1/... lists)"


def hash_secret(secret: str) -> str:
    """SHA-256 of the key. Keys are 256-bit random, so a fast hash is enough (no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """A hashed API key with a role and scopes. The plain key is shown once, never stored.

    The key reads ``cpk_<prefix>_<secret>``; ``prefix`` finds the row, the SHA-256 of the
    whole key is compared in constant time.
    """

    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'loan-origination'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANALYST)
    scopes = models.JSONField(default=list, help_text="Any of: score, fraud, read.")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=[r.value for r in Role]), name="apikey_role_valid"),
            models.CheckConstraint(condition=~Q(key_hash=""), name="apikey_hash_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def label(self) -> str:
        """How the key appears in logs and decision records (never the secret)."""
        return f"apikey:{self.prefix}"

    def is_active(self, now: object | None = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now  # type: ignore[operator]

    def matches(self, plain_key: str) -> bool:
        return hmac.compare_digest(self.key_hash, hash_secret(plain_key))

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class OidcIdentity(models.Model):
    """Links a Django user to one OpenID Connect identity: the pair (issuer, subject).

    ``sub`` is unique and stable only within its issuer (OIDC Core §2), so the pair is the
    identity; e-mail addresses change and can be re-assigned, so they never match a user.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    roles = models.JSONField(default=list, blank=True, help_text="Roles granted by the provider at the last login.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OIDC identity"
        verbose_name_plural = "OIDC identities"
        ordering = ["issuer", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidcidentity_issuer_subject_unique"),
            models.CheckConstraint(condition=~Q(issuer="") & ~Q(subject=""), name="oidcidentity_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"
