"""Data protection in a real browser.

A data-protection officer finds a dataset version past its retention period on the data-protection
page, confirms its erasure with a reason, and sees the tombstone (the download answers 410 Gone).
An ML lead makes a de-identified copy of a version from the scan's findings, and reads its
k-anonymity. Tasks run in the live server's process (eager), as in the embedded default.

Screenshots: test-artifacts/screenshots/data-protection-*.png.
"""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from governance.models import DatasetVersion
from governance.models.data_protection import DeidentificationJob
from governance.services import inventory
from tests.factories import DatasetFactory
from tests.governance.retention.conftest import age, pii_csv
from tests.people import _person

pytestmark = pytest.mark.browser


@pytest.fixture
def organisation(transactional_db, ml_lead, retail):
    dpo = _person("dpo", "dpo", retail)
    dataset = DatasetFactory(name="Loan applicants", business_unit=retail, owner=ml_lead, retention_days=365,
                             processes_personal_data=True, legal_basis="contract")
    # Committed (transactional_db): on-commit hooks run, so each upload is profiled and scanned at once.
    old = inventory.dataset_version_create(
        actor=ml_lead, dataset=dataset, version="2023-01",
        file=SimpleUploadedFile("applicants-2023.csv", pii_csv(), content_type="text/csv"))
    age(old, 500)
    current = inventory.dataset_version_create(
        actor=ml_lead, dataset=dataset, version="2025-06",
        file=SimpleUploadedFile("applicants-2025.csv", pii_csv(80, marker=False), content_type="text/csv"))
    return {"dpo": dpo, "dataset": dataset, "old": old, "current": current}


def test_dpo_erases_a_version_past_retention(page, live_server, login, screenshot, organisation, password):
    old = organisation["old"]
    login(page, live_server, "dpo", password)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Data protection").click()
    expect(page.get_by_role("heading", level=1, name="Data protection")).to_be_visible()
    due = page.get_by_role("region", name="Versions past retention")
    expect(due).to_contain_text("Loan applicants")
    expect(due).to_contain_text("2023-01")
    expect(due).not_to_contain_text("2025-06")
    screenshot(page, "data-protection-01-past-retention")

    due.get_by_role("link", name="Erase Loan applicants version 2023-01").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Erase version 2023-01")
    # Without the confirmation box nothing happens, and the page says why.
    page.get_by_label("Reason for erasure").fill("Retention period of one year ended; no legal hold.")
    page.get_by_role("button", name="Erase version 2023-01").click()
    expect(page.get_by_text("Tick the box to confirm").first).to_be_visible()
    assert not DatasetVersion.objects.get(pk=old.pk).is_erased
    screenshot(page, "data-protection-02-confirm-missing")

    page.get_by_label("I understand that the file is destroyed").check()
    page.get_by_role("button", name="Erase version 2023-01").click()
    expect(page.get_by_text("was erased: its file is destroyed")).to_be_visible()
    panel = page.locator("#data-protection")
    expect(panel.locator("tr", has_text="2023-01")).to_contain_text("Erased")
    expect(panel.locator("tr", has_text="2023-01")).to_contain_text("Retention period of one year ended")
    panel.scroll_into_view_if_needed()
    screenshot(page, "data-protection-03-tombstone")
    assert DatasetVersion.objects.get(pk=old.pk).is_erased

    # The download answers 410 Gone with a page that says what happened.
    response = page.goto(f"/datasets/{old.dataset_id}/versions/{old.pk}/download/")
    assert response.status == 410
    expect(page.get_by_role("heading", level=1, name="This file was erased")).to_be_visible()
    screenshot(page, "data-protection-04-gone")

    page.goto("/data-protection/")
    expect(page.get_by_role("region", name="Recently erased versions")).to_contain_text("2023-01")
    expect(page.get_by_text("Nothing past retention")).to_be_visible()


def test_ml_lead_makes_a_deidentified_copy(page, live_server, login, screenshot, organisation, password):
    dataset = organisation["dataset"]
    login(page, live_server, "mllead", password)
    page.goto(f"/datasets/{dataset.pk}/")
    panel = page.locator("#data-protection")
    expect(panel).to_contain_text("Keep until")
    panel.locator("tr", has_text="2025-06").get_by_role("link", name="De-identified copy…").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("De-identified copy of version 2025-06")
    expect(page.get_by_text("Defaults come from the dataset scan")).to_be_visible()
    # The scan's findings chose the defaults: e-mails pseudonymised, names dropped, ages banded.
    expect(page.get_by_label("Action for email")).to_have_value("pseudonymise")
    expect(page.get_by_label("Action for full_name")).to_have_value("drop")
    expect(page.get_by_label("Action for age")).to_have_value("band")
    expect(page.get_by_label("age is a quasi-identifier")).to_be_checked()
    screenshot(page, "data-protection-05-deidentify-form")

    # A bad number is refused next to its column, and nothing is queued.
    page.get_by_label("Number for age").fill("0")
    page.get_by_role("button", name="Make the de-identified copy").click()
    expect(page.get_by_text("between 1 and").first).to_be_visible()
    assert not DeidentificationJob.objects.exists()
    screenshot(page, "data-protection-06-deidentify-error")

    page.get_by_label("Number for age").fill("20")
    # The year of birth repeats what the age band says: not counted as a quasi-identifier here.
    page.get_by_label("date_of_birth is a quasi-identifier").uncheck()
    page.get_by_label("Label of the new version").fill("2025-06-deid")
    page.get_by_role("button", name="Make the de-identified copy").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("De-identified copy 2025-06-deid")
    status = page.locator("#job-status")
    expect(status.locator("[data-job-status]")).to_have_attribute("data-job-status", "succeeded")
    expect(status).to_contain_text(re.compile(r"k-anonymity\s*\d+ over age, postcode"))
    screenshot(page, "data-protection-07-copy-made")

    job = DeidentificationJob.objects.get()
    assert job.status == "succeeded" and job.k_anonymity >= 2 and job.quasi_identifiers == ["age", "postcode"]
    page.get_by_role("link", name="2025-06-deid").click()
    expect(page.locator("#data-protection")).to_contain_text("De-identified copy of 2025-06")
    page.locator("#data-protection").scroll_into_view_if_needed()
    screenshot(page, "data-protection-08-lineage")


def test_the_officers_pages_fit_a_phone(phone_page, live_server, login, screenshot, organisation, password):
    page = phone_page
    login(page, live_server, "dpo", password)
    for path, name in (("/data-protection/", "overview"),
                       (f"/data-protection/datasets/{organisation['old'].dataset_id}/versions/"
                        f"{organisation['old'].pk}/erase/", "erase")):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # Wide tables scroll inside their own region; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        screenshot(page, f"data-protection-phone-{name}")


def test_dpo_tracks_an_erasure_request_to_done(page, live_server, login, screenshot, organisation, password):
    from governance.models.data_protection import ErasureRequest

    old = organisation["old"]
    login(page, live_server, "dpo", password)
    page.goto("/data-protection/")
    page.get_by_role("link", name="Record an erasure request").click()
    page.get_by_label("Business unit").select_option(label="Acme / Retail")
    page.get_by_label("Subject reference").fill("zebulon.quartermaine@example.org")
    page.get_by_label("How to find the subject in the data").fill("E-mail column of the 2023 applicants file.")
    page.get_by_label("Received on").fill("2026-12-01")
    page.get_by_role("button", name="Record request").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Erasure request ER-")

    page.get_by_label("Dataset version that holds the subject").select_option(label="Loan applicants · 2023-01")
    page.get_by_role("button", name="Add version").click()
    expect(page.get_by_text("Version added to the request.")).to_be_visible()
    screenshot(page, "data-protection-09-request")

    page.get_by_role("link", name="Erase this version…").click()
    expect(page.get_by_label("Reason for erasure")).to_have_value(re.compile(r"Erasure request ER-\d+"))
    page.get_by_label("I understand that the file is destroyed").check()
    page.get_by_role("button", name="Erase version 2023-01").click()
    expect(page.get_by_role("region", name="Dataset versions of this request")).to_contain_text("Erased")

    page.get_by_label("Done: erased or not held everywhere").check()
    page.get_by_label("Outcome").fill("The only version holding the subject was erased.")
    page.get_by_role("button", name="Close request").click()
    expect(page.get_by_text("closed as done")).to_be_visible()
    screenshot(page, "data-protection-10-request-done")
    request = ErasureRequest.objects.get()
    assert request.status == "done" and DatasetVersion.objects.get(pk=old.pk).is_erased
    # The subject is readable on the page for the officer, and nowhere in the database.
    assert "zebulon" not in ErasureRequest.objects.values_list("subject_ref_hash", flat=True).get()
