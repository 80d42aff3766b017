"""The model registry in a real browser: an admin activates a version, a corrupt upload is refused,
an analyst is not offered activation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scoring.ml.predictor import get_model
from scoring.models import ModelVersion
from tests.browser import ARTIFACTS, login
from tests.models import TrainedModel, register_trained

pytestmark = [pytest.mark.browser, pytest.mark.oidc, pytest.mark.django_db(transaction=True)]


def test_an_admin_activates_a_new_champion_from_the_registry_page(
    site: str,
    chromium: Any,
    trained_credit: TrainedModel,
) -> None:
    register_trained(trained_credit, version="credit-old", status="champion")
    draft = register_trained(trained_credit, version="credit-new", threshold=0.2)
    page = login(chromium, site, "admin")
    page.goto(f"{site}/admin/scoring/modelversion/")
    assert "credit-old" in page.content() and "credit-new" in page.content()
    page.check(f"input[name=_selected_action][value='{draft.pk}']")
    page.select_option("select[name=action]", "activate_champion")
    page.click("button[name=index]")
    message = page.get_by_text("is now the credit champion")
    message.wait_for()
    assert "credit-new is now the credit champion" in message.inner_text().lower()
    page.screenshot(path=str(ARTIFACTS / "registry-admin-activated.png"), full_page=True)
    assert dict(ModelVersion.objects.values_list("version", "status")) == {
        "credit-old": "retired",
        "credit-new": "champion",
    }
    assert get_model("credit").version == "credit-new"
    page.context.close()


def test_a_corrupt_model_file_is_refused_in_the_upload_form(
    site: str,
    chromium: Any,
    trained_credit: TrainedModel,
    tmp_path: Any,
) -> None:
    corrupt = tmp_path / "model.txt"
    corrupt.write_bytes(trained_credit.result.model_text[:5000])
    page = login(chromium, site, "admin")
    page.goto(f"{site}/admin/scoring/modelversion/add/")
    page.select_option("select[name=purpose]", "credit")
    page.fill("input[name=version]", "credit-corrupt")
    page.set_input_files("input[name=model_file]", str(corrupt))
    page.fill("textarea[name=schema_json]", json.dumps(trained_credit.data.schema.to_list()))
    page.fill("input[name=threshold]", "0.2")
    page.click("[name=_save]")
    page.wait_for_selector(".errornote")
    errors = page.locator("#content").all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "registry-corrupt-upload.png"), full_page=True)
    assert any("truncated" in e for e in errors), errors
    assert not ModelVersion.objects.filter(version="credit-corrupt").exists()
    page.context.close()


def test_an_analyst_sees_the_registry_but_is_not_offered_activation(
    site: str,
    chromium: Any,
    trained_credit: TrainedModel,
) -> None:
    register_trained(trained_credit, version="credit-1", status="champion")
    page = login(chromium, site, "analyst")
    assert page.goto(f"{site}/admin/scoring/modelversion/").status == 200
    actions = page.locator("select[name=action] option").all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "registry-analyst.png"), full_page=True)
    assert "Compare selected versions" in actions
    assert not any("Activate" in a for a in actions)
    assert page.goto(f"{site}/admin/scoring/modelversion/add/").status == 403
    page.context.close()
