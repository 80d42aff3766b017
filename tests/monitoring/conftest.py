"""The OIDC provider process of tests/accounts, for the log scan's bearer tokens."""

from tests.accounts.conftest import idp  # noqa: F401 (a fixture, shared with tests/accounts)
