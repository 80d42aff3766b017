from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """GDPR requests (erasure Art. 17, access Art. 15) and their audit trail."""

    name = "privacy"
    verbose_name = "Privacy (GDPR)"
