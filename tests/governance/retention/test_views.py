"""Pages of retention and erasure: the permission ladder, bad input, 410 Gone, query counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.models import AuditEntry, DatasetVersion
from governance.models.data_protection import ErasureRequest, ErasureRequestItem
from governance.retention import services
from tests.factories import DatasetFactory, DatasetVersionFactory
from tests.governance.retention.conftest import MARKER_EMAIL, age

pytestmark = pytest.mark.django_db

REASON = "Retention of one year ended."


def _erase_url(version):
    return reverse("dataset_version_erase", args=[version.dataset_id, version.pk])


# --- the officers' overview ---------------------------------------------------------------------------------------

def test_overview_needs_a_login(client):
    response = client.get(reverse("data_protection"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("who", ["ml_lead", "auditor", "staff", "risk_manager"])
def test_overview_is_for_officers_only(client_for, who, request):
    assert client_for(request.getfixturevalue(who)).get(reverse("data_protection")).status_code == 403


def test_overview_lists_versions_past_retention_in_the_officers_units(client_for, dpo, research_dpo, people_version,
                                                                       research_dataset):
    age(people_version, 400)
    research_dataset.retention_days = 10
    research_dataset.save()
    research_version = age(DatasetVersionFactory(dataset=research_dataset, version="r1"), 20)

    page = client_for(dpo).get(reverse("data_protection")).content.decode()
    assert "Loan applications" in page and _erase_url(people_version) in page
    assert _erase_url(research_version) not in page

    other = client_for(research_dpo).get(reverse("data_protection")).content.decode()
    assert _erase_url(research_version) in other and _erase_url(people_version) not in other


def test_overview_query_count_does_not_grow_with_the_versions(client_for, dpo, retail, ml_lead):
    dataset = DatasetFactory(name="Clicks", business_unit=retail, owner=ml_lead, retention_days=30)
    client = client_for(dpo)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("data_protection")).status_code == 200
        return len(queries)

    age(DatasetVersionFactory(dataset=dataset, version="a"), 40)
    few = count()
    for index in range(8):
        age(DatasetVersionFactory(dataset=dataset, version=f"b{index}"), 40 + index)
    # One query for the versions due (with their dataset, unit and use counts), whatever their number.
    assert count() == few


# --- erasing a version --------------------------------------------------------------------------------------------

def test_erase_page_needs_a_login(client, people_version):
    response = client.get(_erase_url(people_version))
    assert response.status_code == 302


def test_outsiders_get_404(client_for, outsider, research_dpo, people_version):
    for user in (outsider, research_dpo):
        client = client_for(user)
        assert client.get(_erase_url(people_version)).status_code == 404
        assert client.post(_erase_url(people_version), {"reason": REASON, "confirm": "on"}).status_code == 404


@pytest.mark.parametrize("who", ["ml_lead", "auditor"])
def test_readers_get_403_and_nothing_is_erased(client_for, who, request, people_version):
    client = client_for(request.getfixturevalue(who))
    assert client.get(_erase_url(people_version)).status_code == 403
    assert client.post(_erase_url(people_version), {"reason": REASON, "confirm": "on"}).status_code == 403
    assert not DatasetVersion.objects.get(pk=people_version.pk).is_erased


def test_an_officer_confirms_with_a_reason(client_for, dpo, people_version):
    client = client_for(dpo)
    page = client.get(_erase_url(people_version))
    assert page.status_code == 200 and b"What will be destroyed" in page.content

    response = client.post(_erase_url(people_version), {"reason": REASON, "confirm": "on"})

    assert response.status_code == 302
    detail = reverse("dataset_detail", args=[people_version.dataset_id])
    assert response["Location"].endswith(detail + "#data-protection")
    version = DatasetVersion.objects.get(pk=people_version.pk)
    assert version.is_erased and version.erasure_reason == REASON
    assert version.file.name == "" and not default_storage.exists(people_version.file.name)


@pytest.mark.parametrize("data, message", [
    ({"reason": REASON}, "Tick the box"),
    ({"reason": "", "confirm": "on"}, "This field is required"),
    ({"reason": "short", "confirm": "on"}, "at least 10"),
])
def test_bad_confirmations_erase_nothing(client_for, dpo, people_version, data, message):
    client = client_for(dpo)
    before = AuditEntry.objects.count()
    response = client.post(_erase_url(people_version), data)
    assert response.status_code == 200 and message in response.content.decode()
    assert not DatasetVersion.objects.get(pk=people_version.pk).is_erased
    assert default_storage.exists(people_version.file.name)
    assert AuditEntry.objects.count() == before


def test_erasing_an_erased_version_again_is_a_conflict(client_for, dpo, people_version):
    services.dataset_version_erase(actor=dpo, version=people_version, reason=REASON)
    client = client_for(dpo)
    assert b"Already erased" in client.get(_erase_url(people_version)).content
    assert client.post(_erase_url(people_version), {"reason": REASON, "confirm": "on"}).status_code == 409


# --- the tombstone ------------------------------------------------------------------------------------------------

def test_downloads_of_an_erased_version_answer_410_gone(client_for, dpo, ml_lead, people_version):
    services.dataset_version_erase(actor=dpo, version=people_version, reason=REASON)
    client = client_for(ml_lead)
    url = reverse("dataset_version_download", args=[people_version.dataset_id, people_version.pk])
    response = client.get(url)
    assert response.status_code == 410
    page = response.content.decode()
    assert "This file was erased" in page and REASON in page and "cannot be downloaded" in page
    assert not AuditEntry.objects.filter(action="download").exists()


def test_the_api_answers_410_with_a_json_error(client_for, dpo, ml_lead, people_version):
    services.dataset_version_erase(actor=dpo, version=people_version, reason=REASON)
    client = client_for(ml_lead)
    url = reverse("api_dataset_version_file", args=[people_version.dataset_id, people_version.pk])
    response = client.get(url, HTTP_ACCEPT="application/octet-stream")
    assert response.status_code == 410
    # The error body is JSON even when the client asked for the file's bytes (BinaryErrorRenderer).
    assert "was erased on" in json.loads(response.content)["error"]
    detail = client.get(reverse("api_dataset_version_detail", args=[people_version.dataset_id, people_version.pk]))
    assert detail.json()["erased_at"] is not None and detail.json()["sha256"] == people_version.sha256


def test_the_dataset_page_shows_the_tombstone(client_for, dpo, ml_lead, people_version):
    services.dataset_version_erase(actor=dpo, version=people_version, reason=REASON)
    page = client_for(ml_lead).get(reverse("dataset_detail", args=[people_version.dataset_id])).content.decode()
    assert "Erased" in page and REASON in page and people_version.sha256[:10] in page
    assert reverse("dataset_version_download", args=[people_version.dataset_id, people_version.pk]) not in page


def test_the_dataset_page_offers_erasure_to_officers_only(client_for, dpo, ml_lead, people_version):
    url = reverse("dataset_detail", args=[people_version.dataset_id])
    age(people_version, 400)
    officer_page = client_for(dpo).get(url).content.decode()
    assert _erase_url(people_version) in officer_page and "Past retention" in officer_page
    lead_page = client_for(ml_lead).get(url).content.decode()
    assert _erase_url(people_version) not in lead_page
    assert reverse("dataset_version_deidentify", args=[people_version.dataset_id, people_version.pk]) in lead_page


# --- erasure requests ---------------------------------------------------------------------------------------------

def _request(dpo, retail, reference=MARKER_EMAIL):
    return services.erasure_request_create(actor=dpo, business_unit=retail, subject_reference=reference)


def test_request_pages_ladder(client, client_for, dpo, retail, auditor, ml_lead, research_dpo):
    erasure_request = _request(dpo, retail)
    url = reverse("erasure_request_detail", args=[erasure_request.pk])
    assert client.get(url).status_code == 302
    assert client_for(research_dpo).get(url).status_code == 404
    assert client_for(ml_lead).get(url).status_code == 404
    assert client_for(ml_lead).get(reverse("erasure_request_list")).status_code == 403
    # An auditor reads the request, never the subject, and may not work on it.
    client_for(auditor)
    page = client.get(url).content.decode()
    assert erasure_request.reference_code in page and MARKER_EMAIL not in page
    assert client.post(reverse("erasure_request_close", args=[erasure_request.pk]),
                       {"status": "rejected", "outcome": "Exemption under Art. 17(3)(b)."}).status_code == 403
    assert client.get(reverse("erasure_request_create")).status_code == 403
    client_for(dpo)
    assert MARKER_EMAIL in client.get(url).content.decode()


def test_an_officer_records_a_request(client_for, dpo, retail):
    client = client_for(dpo)
    response = client.post(reverse("erasure_request_create"), {
        "business_unit": retail.pk, "subject_reference": "Customer 0042", "subject_details": "Jane, loans 2021",
        "received_at": "2026-12-01",
    })
    erasure_request = ErasureRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("erasure_request_detail",
                                                                          args=[erasure_request.pk])
    assert erasure_request.subject_reference == "Customer 0042"


@pytest.mark.parametrize("data, message", [
    ({"subject_reference": ""}, "This field is required"),
    ({"received_at": "not a date"}, "Enter a valid date"),
    ({"received_at": "2099-01-01"}, "in the future"),
    ({"business_unit": "999999"}, "Select a valid choice"),
])
def test_bad_requests_are_refused_on_the_form(client_for, dpo, retail, data, message):
    payload = {"business_unit": retail.pk, "subject_reference": "Customer 0042", "received_at": "2026-12-01",
               **data}
    response = client_for(dpo).post(reverse("erasure_request_create"), payload)
    assert response.status_code == 200 and message in response.content.decode()
    assert not ErasureRequest.objects.exists()


def test_listing_a_version_and_erasing_it_from_the_request(client_for, dpo, retail, people_version):
    erasure_request = _request(dpo, retail)
    client = client_for(dpo)
    response = client.post(reverse("erasure_request_add_version", args=[erasure_request.pk]),
                           {"version": people_version.pk, "note": "Row 1 of the file."})
    assert response.status_code == 302
    item = ErasureRequestItem.objects.get()
    detail = client.get(reverse("erasure_request_detail", args=[erasure_request.pk])).content.decode()
    erase_link = _erase_url(people_version) + f"?request={erasure_request.pk}"
    assert erase_link in detail

    form = client.get(erase_link).content.decode()
    assert erasure_request.reference_code in form
    response = client.post(_erase_url(people_version), {"reason": f"Erasure request {erasure_request.reference_code}.",
                                                        "confirm": "on", "request": erasure_request.pk})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "erased"

    response = client.post(reverse("erasure_request_close", args=[erasure_request.pk]),
                           {"status": "done", "outcome": "The only version holding them was erased."})
    assert response.status_code == 302
    erasure_request.refresh_from_db()
    assert erasure_request.status == "done"


def test_closing_with_open_versions_is_refused_on_the_page(client_for, dpo, retail, people_version):
    erasure_request = _request(dpo, retail)
    services.erasure_request_add_version(actor=dpo, request=erasure_request, version=people_version)
    response = client_for(dpo).post(reverse("erasure_request_close", args=[erasure_request.pk]),
                                    {"status": "done", "outcome": "Everything was erased, honestly."})
    assert response.status_code == 400 and "still to erase or check" in response.content.decode()
    erasure_request.refresh_from_db()
    assert erasure_request.is_open


def test_adding_a_version_outside_the_officers_units_is_refused(client_for, dpo, retail, research_dataset):
    erasure_request = _request(dpo, retail)
    foreign = DatasetVersionFactory(dataset=research_dataset, version="r1")
    response = client_for(dpo).post(reverse("erasure_request_add_version", args=[erasure_request.pk]),
                                    {"version": foreign.pk})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not ErasureRequestItem.objects.exists()


def test_not_held_needs_what_was_checked(client_for, dpo, retail, people_version):
    erasure_request = _request(dpo, retail)
    item = services.erasure_request_add_version(actor=dpo, request=erasure_request, version=people_version)
    url = reverse("erasure_item_not_held", args=[erasure_request.pk, item.pk])
    client = client_for(dpo)
    response = client.post(url, {"note": "no"})
    assert response.status_code == 400 and "at least 10" in response.content.decode()
    assert client.post(url, {"note": "Searched every e-mail column."}).status_code == 302
    item.refresh_from_db()
    assert item.status == "not_held"


def test_request_list_query_count_is_flat(client_for, dpo, retail):
    client = client_for(dpo)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("erasure_request_list") + "?status=").status_code == 200
        return len(queries)

    _request(dpo, retail, "customer 1")
    few = count()
    for index in range(6):
        _request(dpo, retail, f"customer {index + 2}")
    # The requests with their unit and item counts come in one query.
    assert count() == few


def test_the_dashboard_tells_officers_what_is_waiting(client_for, dpo, ml_lead, retail, people_version):
    from datetime import timedelta

    from django.utils import timezone

    age(people_version, 400)
    services.erasure_request_create(actor=dpo, business_unit=retail, subject_reference="customer 1",
                                    received_at=timezone.localdate() - timedelta(days=40))
    cards = {card["title"]: card for card in client_for(dpo).get(reverse("dashboard")).context["cards"]}
    assert cards["Versions past retention"]["count"] == 1 and cards["Versions past retention"]["tone"] == "warn"
    assert cards["Open erasure requests"]["count"] == 1 and cards["Open erasure requests"]["tone"] == "fail"
    assert "1 past the one-month deadline" in cards["Open erasure requests"]["description"]
    lead_cards = [card["title"] for card in client_for(ml_lead).get(reverse("dashboard")).context["cards"]]
    assert "Versions past retention" not in lead_cards


def test_keeping_a_version_for_now_from_the_page(client, client_for, dpo, ml_lead, outsider, people_version):
    from django.utils import timezone

    age(people_version, 400)
    url = reverse("dataset_version_hold", args=[people_version.dataset_id, people_version.pk])
    assert client.get(url).status_code == 302
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(ml_lead).post(url, {"until": "2027-01-01", "reason": "Legal hold: case 7."}).status_code == 403
    client_for(dpo)
    overview = client.get(reverse("data_protection")).content.decode()
    assert url in overview
    bad = client.post(url, {"until": "2020-01-01", "reason": "Legal hold: case 7."})
    assert bad.status_code == 400 and "Choose a date after today" in bad.content.decode()
    until = (timezone.localdate() + timedelta(days=60)).isoformat()
    assert client.post(url, {"until": until, "reason": "Legal hold: case 7."}).status_code == 302
    overview = client.get(reverse("data_protection")).content.decode()
    assert "Kept past retention for now" in overview and "Legal hold: case 7." in overview
    assert _erase_url(people_version) not in overview
    detail = client.get(reverse("dataset_detail", args=[people_version.dataset_id])).content.decode()
    assert "Kept past retention" in detail
