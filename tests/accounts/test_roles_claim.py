"""Which platform roles a set of token claims grants (pure: no provider, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.tokens import roles_from_claims


def test_claim_values_equal_to_role_names_are_roles() -> None:
    assert roles_from_claims({"groups": ["analyst", "viewer", "marketing"]}) == {"analyst", "viewer"}


def test_role_map_renames_provider_groups(settings: Any) -> None:
    settings.OIDC_ROLE_MAP = {"credit-officers": "analyst", "risk-admins": "admin"}
    assert roles_from_claims({"groups": ["credit-officers", "risk-admins"]}) == {"analyst", "admin"}


def test_nested_claim_is_followed_with_dots(settings: Any) -> None:
    settings.OIDC_ROLES_CLAIM = "realm_access.roles"
    assert roles_from_claims({"realm_access": {"roles": ["compliance", "offline_access"]}}) == {"compliance"}


def test_single_string_claim_counts_as_one_value() -> None:
    assert roles_from_claims({"groups": "viewer"}) == {"viewer"}


@pytest.mark.parametrize("claims", [{}, {"groups": None}, {"groups": {"admin": True}}, {"groups": [["admin"]]}])
def test_missing_or_malformed_claim_grants_nothing(claims: dict[str, Any]) -> None:
    assert roles_from_claims(claims) == frozenset()


def test_full_group_paths_are_not_roles() -> None:
    # Without a map, no path is a role: "/admin" and "/bank/admin" alike.
    assert roles_from_claims({"groups": ["/admin", "/bank/admin"]}) == frozenset()


def test_keycloaks_full_paths_map_only_the_top_level_groups(settings: Any) -> None:
    """docs/access.md's Keycloak set-up: full group paths and a map of the four top-level groups. A
    subgroup named like a role elsewhere in the realm (which the short names would flatten to ``admin``)
    grants nothing."""
    settings.OIDC_ROLE_MAP = {
        "/admin": "admin",
        "/analyst": "analyst",
        "/viewer": "viewer",
        "/compliance": "compliance",
    }
    assert roles_from_claims({"groups": ["/analyst"]}) == {"analyst"}
    assert roles_from_claims({"groups": ["/partners/acme/admin", "/partners/compliance"]}) == frozenset()
