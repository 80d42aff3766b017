"""The alert queue: taking, assigning and resolving, with the object permission that guards it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from fraud.models import FraudAlert
from fraud.selectors import labelled_checks
from fraud.services import fraud_alert_assign, fraud_alert_can_resolve, fraud_alert_resolve, fraud_alert_take
from tests.factories import FraudAlertFactory, UserFactory
from tests.fraud.contexts import context

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        "alice": UserFactory(username="alice", roles=["analyst"]),
        "bob": UserFactory(username="bob", roles=["analyst"]),
        "admin": UserFactory(username="boss", roles=["admin"]),
        "viewer": UserFactory(username="vera", roles=["viewer"]),
    }


@pytest.fixture
def alert() -> FraudAlert:
    return FraudAlertFactory(fraud_check__features=context(amount=12000.0))


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def resolve_url(alert: FraudAlert) -> str:
    return f"/admin/fraud/fraudalert/{alert.pk}/resolve/"


def resolve(user: Any, alert: FraudAlert, resolution: str = "confirmed_fraud") -> Any:
    return browser(user).post(resolve_url(alert), {"resolution": resolution, "comment": "Called the client."})


def test_the_assignee_can_resolve_another_analyst_cannot_an_admin_can(
    people: dict[str, Any], alert: FraudAlert
) -> None:
    fraud_alert_take(alert=alert, user=people["alice"])
    assert resolve(people["bob"], alert).status_code == 403
    assert browser(people["bob"]).get(resolve_url(alert)).status_code == 403
    with pytest.raises(PermissionDenied):
        fraud_alert_resolve(alert=alert, user=people["bob"], resolution="false_positive", comment="not mine")
    assert resolve(people["alice"], alert).status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.resolution, alert.resolved_by) == ("resolved", "confirmed_fraud", people["alice"])
    assert alert.resolution_comment == "Called the client."

    other = FraudAlertFactory(fraud_check__features=context())
    fraud_alert_take(alert=other, user=people["alice"])
    assert resolve(people["admin"], other, "false_positive").status_code == 302
    other.refresh_from_db()
    assert (other.resolution, other.resolved_by) == ("false_positive", people["admin"])


def test_resolving_an_alert_resolved_meanwhile_says_so_and_changes_nothing(
    people: dict[str, Any], alert: FraudAlert
) -> None:
    """Two of them had the page open; the second one's submit was a bare 403."""
    fraud_alert_take(alert=alert, user=people["alice"])
    assert resolve(people["admin"], alert, "false_positive").status_code == 302
    page = browser(people["alice"])
    response = page.post(resolve_url(alert), {"resolution": "confirmed_fraud", "comment": "Mine."}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"/admin/fraud/fraudalert/{alert.pk}/change/"
    assert "already resolved" in " ".join(str(m) for m in response.context["messages"])
    alert.refresh_from_db()
    assert (alert.resolution, alert.resolved_by) == ("false_positive", people["admin"])


def test_an_analyst_moved_to_viewer_no_longer_resolves_the_alerts_they_held(
    people: dict[str, Any], alert: FraudAlert
) -> None:
    from django.contrib.auth.models import Group

    fraud_alert_take(alert=alert, user=people["alice"])
    alice = type(people["alice"]).objects.get(pk=people["alice"].pk)  # fresh: no cached permissions
    alice.groups.set([Group.objects.get(name="viewer")])
    alice = type(alice).objects.get(pk=alice.pk)
    assert not fraud_alert_can_resolve(alert=alert, user=alice)
    assert resolve(alice, alert, "false_positive").status_code == 403
    alert.refresh_from_db()
    assert alert.status == "assigned" and alert.resolution == ""


def test_taking_an_alert_grants_the_object_permission_to_that_analyst_only(
    people: dict[str, Any], alert: FraudAlert
) -> None:
    assert not fraud_alert_can_resolve(alert=alert, user=people["alice"])
    response = browser(people["alice"]).post(f"/admin/fraud/fraudalert/{alert.pk}/take/")
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "assigned" and alert.assignee == people["alice"]
    assert people["alice"].has_perm("fraud.resolve_fraudalert", alert)
    assert not people["bob"].has_perm("fraud.resolve_fraudalert", alert)


def test_an_assigned_alert_cannot_be_taken_by_someone_else(people: dict[str, Any], alert: FraudAlert) -> None:
    fraud_alert_take(alert=alert, user=people["alice"])
    with pytest.raises(ValidationError):
        fraud_alert_take(alert=alert, user=people["bob"])
    browser(people["bob"]).post(f"/admin/fraud/fraudalert/{alert.pk}/take/")
    alert.refresh_from_db()
    assert alert.assignee == people["alice"]


def test_reassigning_moves_the_right_to_resolve(people: dict[str, Any], alert: FraudAlert) -> None:
    fraud_alert_take(alert=alert, user=people["alice"])
    response = browser(people["admin"]).post(
        f"/admin/fraud/fraudalert/{alert.pk}/assign/", {"assignee": people["bob"].pk}
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    people["alice"] = type(people["alice"]).objects.get(pk=people["alice"].pk)  # fresh permission cache
    assert alert.assignee == people["bob"]
    assert not fraud_alert_can_resolve(alert=alert, user=people["alice"])
    assert fraud_alert_can_resolve(alert=alert, user=people["bob"])
    assert resolve(people["alice"], alert).status_code == 403
    assert resolve(people["bob"], alert).status_code == 302


def test_only_admins_assign_and_only_to_analysts(people: dict[str, Any], alert: FraudAlert) -> None:
    assert browser(people["alice"]).get(f"/admin/fraud/fraudalert/{alert.pk}/assign/").status_code == 403
    with pytest.raises(PermissionDenied):
        fraud_alert_assign(alert=alert, assignee=people["bob"], by=people["alice"])
    with pytest.raises(ValidationError):
        fraud_alert_assign(alert=alert, assignee=people["viewer"], by=people["admin"])


def test_viewers_see_the_queue_but_cannot_take_or_resolve(people: dict[str, Any], alert: FraudAlert) -> None:
    viewer = browser(people["viewer"])
    assert viewer.get("/admin/fraud/fraudalert/").status_code == 200
    assert viewer.post(f"/admin/fraud/fraudalert/{alert.pk}/take/").status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"
    assert viewer.get(resolve_url(alert)).status_code == 403


def test_the_change_page_offers_what_each_person_may_do(people: dict[str, Any], alert: FraudAlert) -> None:
    url = f"/admin/fraud/fraudalert/{alert.pk}/change/"
    page = browser(people["alice"]).get(url).content.decode()
    assert 'id="take-alert"' in page and 'id="resolve-alert"' not in page and 'id="assign-alert"' not in page
    fraud_alert_take(alert=alert, user=people["alice"])
    assert 'id="resolve-alert"' in browser(people["alice"]).get(url).content.decode()
    assert 'id="resolve-alert"' not in browser(people["bob"]).get(url).content.decode()
    admin_page = browser(people["admin"]).get(url).content.decode()
    assert 'id="assign-alert"' in admin_page and 'id="resolve-alert"' in admin_page


def test_the_take_action_takes_only_unassigned_alerts(people: dict[str, Any], alert: FraudAlert) -> None:
    mine = FraudAlertFactory(fraud_check__features=context())
    fraud_alert_take(alert=mine, user=people["bob"])
    response = browser(people["alice"]).post(
        "/admin/fraud/fraudalert/", {"action": "take_alerts", "_selected_action": [str(alert.pk), str(mine.pk)]}
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    mine.refresh_from_db()
    assert (alert.assignee, mine.assignee) == (people["alice"], people["bob"])


def test_a_resolution_needs_a_comment_and_happens_once(people: dict[str, Any], alert: FraudAlert) -> None:
    fraud_alert_take(alert=alert, user=people["alice"])
    with pytest.raises(ValidationError):
        fraud_alert_resolve(alert=alert, user=people["alice"], resolution="confirmed_fraud", comment="  ")
    fraud_alert_resolve(alert=alert, user=people["alice"], resolution="confirmed_fraud", comment="Card stolen.")
    with pytest.raises(ValidationError):
        fraud_alert_resolve(alert=alert, user=people["admin"], resolution="false_positive", comment="Changed mind.")


def test_resolutions_become_labels_for_training(people: dict[str, Any], alert: FraudAlert) -> None:
    fraud_alert_take(alert=alert, user=people["alice"])
    fraud_alert_resolve(alert=alert, user=people["alice"], resolution="confirmed_fraud", comment="Card stolen.")
    FraudAlertFactory(fraud_check__features=context())  # open: no label yet
    labels = list(labelled_checks())
    assert len(labels) == 1 and labels[0][1] is True and labels[0][0]["amount"] == 12000.0


def test_a_viewer_posting_the_take_action_takes_nothing(people: dict[str, Any], alert: FraudAlert) -> None:
    browser(people["viewer"]).post(
        "/admin/fraud/fraudalert/", {"action": "take_alerts", "_selected_action": [str(alert.pk)]}
    )
    alert.refresh_from_db()
    assert alert.status == "open" and alert.assignee is None
