"""Observed outcomes: one service behind the API, the admin upload and import_outcomes; all rows or none."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import Outcome
from governance.services import OutcomeImportError, outcomes_import
from scoring.models import Decision, ModelVersion
from tests.factories import ClientFactory, CreditApplicationFactory, make_decision

pytestmark = pytest.mark.django_db


def decided_on() -> date:
    """The day of the fixture's decisions: long enough ago for "no default over 12 months" to be seen today."""
    return timezone.localdate() - timedelta(days=400)


def backdated(*made: Decision) -> None:
    """Decisions made on ``decided_on()`` (``created_at`` is set on save: moved by an update)."""
    at = timezone.now() - timedelta(days=400)
    Decision.objects.filter(pk__in=[d.pk for d in made]).update(created_at=at)
    for d in made:
        d.created_at = at


@pytest.fixture
def decisions(credit_model: ModelVersion) -> dict[str, Decision]:
    client = ClientFactory(client_id="C2001")
    application = CreditApplicationFactory(client=client, application_id="A2001")
    other = ClientFactory(client_id="C2002")
    made = {
        "plain": make_decision(credit_model),
        "by_application": make_decision(credit_model, client=client, application=application),
        "by_client": make_decision(credit_model, client=other),
    }
    backdated(*made.values())
    return made


def row(**kwargs: Any) -> dict[str, Any]:
    return {"defaulted": False, "observed_on": timezone.localdate().isoformat(), "horizon_months": 12, **kwargs}


def test_the_three_ways_of_naming_a_decision_store_outcomes_beside_it(decisions: dict[str, Decision]) -> None:
    result = outcomes_import(
        rows=[
            row(decision_id=str(decisions["plain"].id), defaulted=True),
            row(application_id="A2001", defaulted="no"),
            row(client_id="C2002", decision_date=decided_on().isoformat(), defaulted="1", horizon_months="6"),
        ],
        source="api",
        caller="user:1",
    )
    assert result.count == 3
    stored = {o.decision_id: (o.defaulted, o.horizon_months) for o in Outcome.objects.all()}
    assert stored == {
        decisions["plain"].id: (True, 12),
        decisions["by_application"].id: (False, 12),
        decisions["by_client"].id: (True, 6),
    }
    # The decision itself is untouched.
    plain = Decision.objects.get(pk=decisions["plain"].pk)
    assert (plain.decision, plain.prediction, plain.probability_default) == ("approve", 0, 0.2)
    event = AuditEvent.objects.get(action="outcomes.imported")
    assert event.details["rows"] == 3 and event.details["defaults"] == 2


def test_bad_rows_are_each_reported_and_nothing_is_imported(decisions: dict[str, Decision]) -> None:
    today = timezone.localdate()
    plain = str(decisions["plain"].id)
    outcomes_import(rows=[row(decision_id=str(decisions["by_client"].id))], source="api", caller="user:1")
    with pytest.raises(OutcomeImportError) as caught:
        outcomes_import(
            rows=[
                row(decision_id=plain),  # 0: fine on its own
                row(decision_id=str(uuid.uuid4())),  # 1: unknown
                row(application_id="A9999"),  # 2: unknown application
                row(decision_id=plain),  # 3: duplicate of 0
                row(decision_id=plain, horizon_months=12, defaulted=True),  # 4: contradicts 0
                row(decision_id=str(decisions["by_client"].id), defaulted=True),  # 5: contradicts the stored one
                row(decision_id=str(decisions["by_client"].id)),  # 6: already imported
                row(decision_id=plain, horizon_months=0, observed_on=(today + timedelta(days=1)).isoformat()),  # 7
                row(client_id="C2002"),  # 8: no decision_date
                row(decision_id=plain, application_id="A2001"),  # 9: two references
                row(decision_id=plain, horizon_months=6, defaulted=True),  # 10: default in 6 vs none in 12 (row 0)
                row(decision_id=str(decisions["by_application"].id), defaulted="maybe", colour="red"),  # 11
            ],
            source="api",
            caller="user:1",
        )
    found = {(e.index, e.field): e.message for e in caught.value.errors}
    assert set(found) == {
        (1, "decision_id"),
        (2, "application_id"),
        (3, "defaulted"),
        (4, "defaulted"),
        (5, "defaulted"),
        (6, "defaulted"),
        (7, "horizon_months"),
        (7, "observed_on"),
        (8, "decision_date"),
        (9, "decision_id"),
        (10, "defaulted"),
        (11, "defaulted"),
        (11, "colour"),
    }
    assert found[(1, "decision_id")] == "Unknown decision."
    assert found[(3, "defaulted")].startswith("Duplicate of row 0")
    assert found[(4, "defaulted")].startswith("Contradicts row 0")
    assert found[(5, "defaulted")] == "Contradicts the stored outcome for this decision and horizon."
    assert found[(6, "defaulted")] == "Already imported for this decision and horizon."
    assert found[(10, "defaulted")].startswith("Contradicts row 0")
    assert Outcome.objects.count() == 1  # only the earlier import


def test_an_ambiguous_reference_asks_for_the_decision_id(decisions: dict[str, Decision]) -> None:
    backdated(make_decision(decisions["by_application"].model_version, client=decisions["by_client"].client))
    with pytest.raises(OutcomeImportError) as caught:
        outcomes_import(rows=[row(client_id="C2002", decision_date=decided_on().isoformat())], source="api", caller="x")
    assert caught.value.errors[0].message == "2 decisions for this client on that day: send decision_id instead."


def test_the_api_stores_all_or_answers_400_naming_each_row(decisions: dict[str, Decision], client_as: Any) -> None:
    api = client_as("analyst")
    good = row(decision_id=str(decisions["plain"].id))
    response = api.post("/api/v1/outcomes", {"items": [good, row(decision_id="nope")]}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"items.1.decision_id": ["Not a decision id (a UUID)."]}
    assert not Outcome.objects.exists()
    response = api.post("/api/v1/outcomes", {"items": "x"}, format="json")
    assert response.status_code == 400 and "items" in response.json()["fields"]
    response = api.post("/api/v1/outcomes", {"items": [good]}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["count"] == 1 and body["outcomes"][0]["decision_id"] == str(decisions["plain"].id)
    assert Outcome.objects.get().source == "api"


def test_the_command_imports_a_csv_or_lists_the_bad_lines(decisions: dict[str, Decision], tmp_path: Any) -> None:
    today = timezone.localdate().isoformat()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "decision_id,application_id,client_id,decision_date,defaulted,observed_on,horizon_months\n"
        f"{decisions['plain'].id},,,,false,{today},12\n"
        f"{uuid.uuid4()},,,,true,{today},12\n"
    )
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_outcomes", str(bad), stderr=err)
    assert "line 3: decision_id: Unknown decision." in err.getvalue()
    assert not Outcome.objects.exists()
    good = tmp_path / "good.csv"
    good.write_text(f"application_id,defaulted,observed_on,horizon_months\nA2001,true,{today},12\n")
    out = StringIO()
    call_command("import_outcomes", str(good), stdout=out)
    assert "Imported 1 outcome(s) (1 default(s))" in out.getvalue()
    assert Outcome.objects.get().source == "command"
    with pytest.raises(CommandError, match="Unknown column"):
        (tmp_path / "cols.csv").write_text("id,defaulted\n1,true\n")
        call_command("import_outcomes", str(tmp_path / "cols.csv"))


def test_the_admin_upload_imports_or_shows_each_bad_line(
    decisions: dict[str, Decision], client: Any, user_with_role: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(user_with_role("analyst"))
    today = timezone.localdate().isoformat()
    content = (
        "decision_id,defaulted,observed_on,horizon_months\n"
        f"{decisions['plain'].id},false,{today},12\n"
        f"{decisions['plain'].id},true,{today},12\n"
    ).encode()
    response = client.post("/admin/governance/outcome/import/", {"file": SimpleUploadedFile("o.csv", content)})
    assert response.status_code == 200
    assert "Line 3: defaulted: Contradicts row 0" in response.content.decode()
    assert not Outcome.objects.exists()
    content = f"decision_id,defaulted,observed_on,horizon_months\n{decisions['plain'].id},false,{today},12\n".encode()
    response = client.post("/admin/governance/outcome/import/", {"file": SimpleUploadedFile("o.csv", content)})
    assert response.status_code == 302
    assert Outcome.objects.get().source == "admin"
    client.force_login(user_with_role("viewer"))
    assert client.get("/admin/governance/outcome/import/").status_code == 403
    assert client.get("/admin/governance/outcome/").status_code == 200


def test_observed_before_the_decision_is_refused(decisions: dict[str, Decision]) -> None:
    with pytest.raises(OutcomeImportError) as caught:
        outcomes_import(
            rows=[
                row(decision_id=str(decisions["plain"].id), observed_on=(decided_on() - timedelta(days=1)).isoformat())
            ],
            source="api",
            caller="x",
        )
    assert [(e.field, e.message) for e in caught.value.errors] == [("observed_on", "Before the decision was made.")]


def test_no_default_over_a_horizon_is_observed_only_once_the_horizon_has_passed(
    credit_model: ModelVersion, client_as: Any
) -> None:
    """Found by review: "no default over 12 months" observed the day after the decision was stored,
    and the performance report then counted the loan as a matured good payer.

    The horizon is in calendar months from the decision's UTC day: a decision at 23:30 UTC on the
    31st of January 2025 is a month old on the 28th of February, and a year old on the 31st of
    January 2026 (not after 12 thirty-day months, on the 26th).
    """
    decision = make_decision(credit_model)
    decided_at = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
    Decision.objects.filter(pk=decision.pk).update(created_at=decided_at)
    ident = str(decision.id)
    api = client_as("analyst")
    early = [
        row(decision_id=ident, horizon_months=1, observed_on="2025-02-27"),
        row(decision_id=ident, horizon_months=12, observed_on="2026-01-26"),  # 360 days later
    ]
    response = api.post("/api/v1/outcomes", {"items": early}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "items.0.observed_on": [
            "No default over 1 months can only be observed once they have passed (on or after 2025-02-28)."
        ],
        "items.1.observed_on": [
            "No default over 12 months can only be observed once they have passed (on or after 2026-01-31)."
        ],
    }
    assert not Outcome.objects.exists()
    # A default within the horizon can be seen as soon as it happens; "no default" once the horizon is over.
    on_time = [
        row(decision_id=ident, horizon_months=1, observed_on="2025-02-28"),
        row(decision_id=ident, horizon_months=12, observed_on="2026-01-31"),
    ]
    assert api.post("/api/v1/outcomes", {"items": on_time}, format="json").status_code == 201
    other = make_decision(credit_model)
    Decision.objects.filter(pk=other.pk).update(created_at=decided_at)
    default = row(decision_id=str(other.id), defaulted=True, horizon_months=12, observed_on="2025-02-01")
    assert api.post("/api/v1/outcomes", {"items": [default]}, format="json").status_code == 201
    assert Outcome.objects.count() == 3


def test_malformed_ids_are_row_errors_not_server_errors(decisions: dict[str, Decision], client_as: Any) -> None:
    """Found by fuzzing: a NUL in a client id reached PostgreSQL and answered 500."""
    day = decided_on().isoformat()
    response = client_as("analyst").post(
        "/api/v1/outcomes",
        {"items": [row(client_id="C2\x0002", decision_date=day), row(application_id="A 1\n")]},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"items.0.client_id", "items.1.application_id"}
    assert "letters, digits" in fields["items.0.client_id"][0]
    assert not Outcome.objects.exists()


@pytest.mark.parametrize(
    ("horizon", "message"),
    [
        ("²", "Enter a whole number of months."),
        ("\u0663", "Enter a whole number of months."),  # an Arabic-Indic 3: a digit to str.isdigit, not to us
        ("9" * 5000, "Enter a number of months from 1 to 600."),
        ("0" * 5000 + "12", None),
    ],
)
def test_a_horizon_is_ascii_digits_of_a_month_count(
    decisions: dict[str, Decision], client_as: Any, horizon: str, message: str | None
) -> None:
    """Found by review: "²" answered int()'s own message, 5,000 digits Python's digit limit."""
    items = [row(decision_id=str(decisions["plain"].id), horizon_months=horizon)]
    response = client_as("analyst").post("/api/v1/outcomes", {"items": items}, format="json")
    if message is None:
        assert response.status_code == 201 and Outcome.objects.get().horizon_months == 12
        return
    assert response.status_code == 400
    assert response.json()["fields"] == {"items.0.horizon_months": [message]}
    assert not Outcome.objects.exists()


def test_a_horizon_too_long_to_read_as_a_json_number_names_its_field(
    decisions: dict[str, Decision], client_as: Any
) -> None:
    fields = {"decision_id": str(decisions["plain"].id), "defaulted": False, "observed_on": str(timezone.localdate())}
    body = json.dumps({"items": [{**fields, "horizon_months": 0}]}).replace(
        '"horizon_months": 0', '"horizon_months": ' + "9" * 5000
    )
    response = client_as("analyst").generic("POST", "/api/v1/outcomes", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"items.0.horizon_months": ["A number of at most 4,300 digits is required."]}


def test_the_api_refuses_unknown_top_level_keys_and_a_number_for_an_id(
    decisions: dict[str, Decision], client_as: Any
) -> None:
    """Only ``items`` is read: another key was ignored; ``client_id: 1001`` was read as the text "1001"."""
    api = client_as("analyst")
    good = row(decision_id=str(decisions["plain"].id))
    extra = api.post("/api/v1/outcomes", {"items": [good], "junk": 1}, format="json")
    assert extra.status_code == 400 and extra.json()["fields"] == {"junk": ["Unknown field."]}
    ClientFactory(client_id="1001")
    day = decided_on().isoformat()
    number = api.post(
        "/api/v1/outcomes",
        {"items": [row(client_id=1001, decision_date=day), row(application_id=2001)]},
        format="json",
    )
    assert number.status_code == 400
    assert number.json()["fields"] == {
        "items.0.client_id": ["Not a valid string."],
        "items.1.application_id": ["Not a valid string."],
    }
    assert not Outcome.objects.exists()
    assert api.post("/api/v1/outcomes", {"items": [good]}, format="json").status_code == 201
