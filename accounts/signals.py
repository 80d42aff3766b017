"""Events other apps listen to (monitoring counts them); accounts never imports monitoring."""

from django.dispatch import Signal

# Sent with request=..., reason=<short code>. Never carries the credential itself.
auth_failed = Signal()
# Sent with request=..., reason=<short code> when an authenticated caller lacks a role/scope.
access_forbidden = Signal()
