"""One erasure in a real browser, by two compliance officers logged in through the provider:
one records the request, the other approves it, the certificate downloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audit.models import AuditEvent
from privacy.models import GdprRequest, RequestStatus
from scoring.models import Client
from tests.accounts.idp import Provider
from tests.browser import ARTIFACTS, login
from tests.factories import ClientFactory
from tests.privacy.conftest import make_history

pytestmark = [pytest.mark.browser, pytest.mark.oidc, pytest.mark.django_db(transaction=True)]


def test_two_officers_erase_a_person_and_download_the_certificate(
    site: str, chromium: Any, browser_idp: Provider, tmp_path: Path
) -> None:
    person = ClientFactory(client_id="C8001", first_name="Zqxbrowser", last_name="Zqxperson", email="zqx@b.test")
    make_history(person)
    browser_idp.set_groups("dpo", ["compliance"])  # a second compliance officer at the provider

    # The first officer records the request.
    recorder = login(chromium, site, "compliance")
    recorder.goto(f"{site}/admin/privacy/gdprrequest/add/")
    recorder.select_option("select[name=kind]", "erasure")
    recorder.click(".field-client .select2-selection")
    recorder.fill(".select2-search__field", "C8001")
    recorder.click(".select2-results__option:has-text('C8001')")
    recorder.fill("textarea[name=details]", "Signed letter received at the branch; identity checked.")
    recorder.click("[name=_save]")
    recorder.get_by_text("was added successfully").wait_for()
    request = GdprRequest.objects.get()
    assert request.status == RequestStatus.RECEIVED and request.recorded_by.username == "compliance"
    recorder.goto(f"{site}/admin/privacy/gdprrequest/{request.pk}/change/")
    assert recorder.locator("#approve-request").count() == 0  # four eyes: not offered to the recorder
    assert "another compliance officer approves it" in recorder.locator("#four-eyes-note").inner_text()
    recorder.screenshot(path=str(ARTIFACTS / "gdpr-recorded.png"), full_page=True)
    recorder.context.close()

    # The second officer sees it due on the front page, approves it; the erasure job runs.
    approver = login(chromium, site, "dpo")
    assert f"/admin/privacy/gdprrequest/{request.pk}/change/" not in approver.content()  # due in 30 days
    approver.goto(f"{site}/admin/privacy/gdprrequest/{request.pk}/change/")
    approver.click("#approve-request")
    approver.get_by_text("Approved").first.wait_for()
    approver.reload()
    approver.screenshot(path=str(ARTIFACTS / "gdpr-erased.png"), full_page=True)
    with approver.expect_download() as download:
        approver.click("#download-certificate")
    saved = tmp_path / "certificate.json"
    download.value.save_as(saved)
    approver.context.close()

    certificate = json.loads(saved.read_text())
    text = saved.read_text()
    assert certificate["request"]["recorded_by"] == "compliance" and certificate["request"]["approved_by"] == "dpo"
    assert certificate["erasure"]["rows_kept_pseudonymised"] > 0
    for value in ("C8001", "Zqxbrowser", "Zqxperson", "zqx@b.test"):
        assert value not in text
    request.refresh_from_db()
    assert request.status == RequestStatus.DONE and request.client is None
    assert not Client.objects.filter(client_id="C8001").exists()
    logins = AuditEvent.objects.filter(action="auth.login", actor_name__in=["compliance", "dpo"])
    assert {(e.actor_name, e.details["method"]) for e in logins} == {("compliance", "oidc"), ("dpo", "oidc")}
