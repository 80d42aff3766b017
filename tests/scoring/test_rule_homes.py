"""One home per rule (scoring): the admin's upload form and the clients API report the service's error."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as BrowserClient
from rest_framework.test import APIClient

from scoring.ml.model import ArtifactError
from scoring.models import ModelVersion
from scoring.services import (
    CLIENT_ID_FIXED,
    ModelVersionRefused,
    client_id_change_check,
    client_update,
    model_version_check,
)
from tests.factories import ClientFactory, UserFactory
from tests.models import TrainedModel

pytestmark = pytest.mark.django_db


def test_client_id_cannot_change_is_the_services_rule_and_the_api_shows_its_message(
    client_as: Callable[[str | None], APIClient],
) -> None:
    client = ClientFactory(client_id="C1001")
    with pytest.raises(ValidationError) as refused:
        client_id_change_check(client=client, client_id="C2002")
    assert refused.value.message_dict == {"client_id": [CLIENT_ID_FIXED]}
    with pytest.raises(ValidationError):
        client_update(client=client, client_id="C2002", first_name="Eve")
    client_id_change_check(client=client, client_id="C1001")  # the same id is no change
    client_id_change_check(client=None, client_id="C2002")  # a new client chooses its id

    response = client_as("analyst").patch("/api/v1/clients/C1001/", {"client_id": "C2002"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["client_id"] == [CLIENT_ID_FIXED]
    client.refresh_from_db()
    assert client.client_id == "C1001"


def _upload(trained: TrainedModel, **overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "purpose": "credit",
        "version": "uploaded-1",
        "model_file": SimpleUploadedFile("model.txt", trained.result.model_text),
        "schema_json": json.dumps(trained.data.schema.to_list()),
        "threshold": "0.12",
        "metrics_json": "{}",
        "training_data": "",
        "notes": "",
    }
    form.update(overrides)
    return form


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"artifact": b"tree\nfeature_names=x\nend of trees"}, "model_file"),
        ({"version": "uploaded 1"}, "version"),
    ],
)
def test_upload_checks_are_the_services_and_the_upload_form_shows_its_message(
    trained_credit: TrainedModel, overrides: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {
        "purpose": "credit",
        "version": "uploaded-1",
        "threshold": 0.12,
        "artifact": trained_credit.result.model_text,
        "feature_schema": trained_credit.data.schema.to_list(),
        **overrides,
    }
    with pytest.raises((ModelVersionRefused, ArtifactError)) as refused:
        model_version_check(**values)
    message = str(refused.value)

    browser = BrowserClient()
    browser.force_login(UserFactory(username="boss", roles=["admin"]))
    posted: dict[str, object] = {"threshold": str(values["threshold"]), "version": values["version"]}
    if "artifact" in overrides:
        posted["model_file"] = SimpleUploadedFile("model.txt", bytes(overrides["artifact"]))
    response = browser.post("/admin/scoring/modelversion/add/", _upload(trained_credit, **posted))
    assert response.status_code == 200
    assert escape(message) in response.content.decode()
    assert not ModelVersion.objects.exists()
