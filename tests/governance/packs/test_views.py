"""The pack pages: the permission ladder, bad input, live progress, audited downloads, the public
verification page, and query counts that do not grow with the number of packs."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.models import AuditEntry, EvidencePack, MLModelUserObjectPermission, PackScopeKind, PackStatus
from governance.models.audit import AuditAction
from governance.packs.scope import PackScope
from tests.factories import RoleGrantFactory, UserFactory
from tests.governance.packs.helpers import build, period, read

pytestmark = pytest.mark.django_db


def post_model_pack(client, model, **extra):
    start, end = period()
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse("pack_create"), {"scope_kind": "model", "model": model.pk,
                                                    "period_start": start, "period_end": end, **extra})


@pytest.fixture
def ready_pack(pack_model, auditor):
    pack = build(auditor, PackScope(kind=PackScopeKind.MODEL, model=pack_model))
    assert pack.status == PackStatus.SUCCEEDED, pack.error
    return pack


# --- the ladder ---------------------------------------------------------------------------------------------

def test_anonymous_is_sent_to_sign_in(client, ready_pack):
    for url in (reverse("pack_list"), reverse("pack_detail", args=[ready_pack.pack_id]),
                reverse("pack_download", args=[ready_pack.pack_id])):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.post(reverse("pack_create"), {}).status_code == 302


@pytest.mark.parametrize("who", ["staff", "ml_lead", "outsider"])
def test_people_without_an_audit_role_get_403_on_the_list(client_for, who, request, catalog):
    user = request.getfixturevalue(who)
    assert client_for(user).get(reverse("pack_list")).status_code == 403


@pytest.mark.parametrize("who", ["auditor", "risk_manager", "admin_user"])
def test_auditors_risk_managers_and_admins_see_the_list(client_for, who, request, ready_pack):
    response = client_for(request.getfixturevalue(who)).get(reverse("pack_list"))
    assert response.status_code == 200
    assert ready_pack.sha256 in response.content.decode()
    assert ready_pack.signer_fingerprint[:16] in response.content.decode()


def test_outsider_gets_404_for_a_pack_and_for_posting_an_invisible_model(client_for, outsider, ready_pack,
                                                                         pack_model):
    research_auditor = UserFactory(username="research-auditor")
    RoleGrantFactory(user=research_auditor, role="auditor", business_unit=outsider.role_grants.get().business_unit)
    client = client_for(research_auditor)
    assert client.get(reverse("pack_detail", args=[ready_pack.pack_id])).status_code == 404
    assert client.get(reverse("pack_download", args=[ready_pack.pack_id])).status_code == 404
    before = EvidencePack.objects.count()
    assert post_model_pack(client, pack_model).status_code == 404
    assert EvidencePack.objects.count() == before
    assert client.get(reverse("pack_detail", args=[uuid.uuid4()])).status_code == 404


def test_ml_lead_who_sees_the_model_gets_403_on_its_packs(client_for, ml_lead, ready_pack, pack_model):
    client = client_for(ml_lead)
    assert client.get(reverse("pack_detail", args=[ready_pack.pack_id])).status_code == 403
    assert client.get(reverse("pack_download", args=[ready_pack.pack_id])).status_code == 403
    assert post_model_pack(client, pack_model).status_code == 403


def test_auditor_builds_a_pack_and_follows_it(client_for, auditor, pack_model):
    client = client_for(auditor)
    response = post_model_pack(client, pack_model)
    pack = EvidencePack.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("pack_detail", args=[pack.pack_id])
    assert pack.status == PackStatus.SUCCEEDED and pack.requested_by == auditor
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"Download the signed pack" in page.content
    assert b'data-pack="idle"' in page.content


def test_an_auditor_granted_one_model_builds_packs_of_that_model_only(client_for, pack_model, research, retail,
                                                                      catalog):
    from assessments.models import Framework

    auditor = UserFactory(username="granted-auditor")
    RoleGrantFactory(user=auditor, role="auditor", business_unit=research)
    MLModelUserObjectPermission.objects.create(
        user=auditor, content_object=pack_model, permission=Permission.objects.get(codename="view_mlmodel"))
    client = client_for(auditor)
    form_page = client.get(reverse("pack_list")).content.decode()
    assert "Credit scorer" in form_page
    assert post_model_pack(client, pack_model).status_code == 302
    start, end = period()
    gdpr = Framework.objects.get(ref_id__iexact="GDPR")
    response = client.post(reverse("pack_create"), {"scope_kind": "framework", "framework": gdpr.pk,
                                                    "business_unit": retail.pk, "period_start": start,
                                                    "period_end": end})
    assert response.status_code == 404
    response = client.post(reverse("pack_create"), {"scope_kind": "org", "period_start": start, "period_end": end})
    assert response.status_code in (400, 403)
    assert EvidencePack.objects.count() == 1


def test_the_whole_organisation_is_for_those_whose_roles_cover_every_unit(client_for, auditor, admin_user, catalog):
    start, end = period()
    data = {"scope_kind": "org", "period_start": start, "period_end": end}
    assert b'value="org"' not in client_for(auditor).get(reverse("pack_list")).content
    assert client_for(auditor).post(reverse("pack_create"), data).status_code == 403
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client_for(admin_user).post(reverse("pack_create"), data)
    assert response.status_code == 302
    assert EvidencePack.objects.get().status == PackStatus.SUCCEEDED


# --- bad input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    ({"scope_kind": "model"}, "Choose the model the pack is about."),
    ({"scope_kind": "framework"}, "Choose a framework."),
    ({"scope_kind": "everything"}, "Select a valid choice"),
    ({"scope_kind": "model", "period_start": "2026-02-01", "period_end": "2026-01-01"}, "must end on or after"),
    ({"scope_kind": "model", "period_start": "not a date"}, "Enter a valid date"),
    ({"scope_kind": "model", "period_start": "1900-01-01", "period_end": "2026-01-01"}, "at most ten years"),
])
def test_bad_requests_are_explained_and_nothing_is_saved(client_for, auditor, pack_model, data, message):
    start, end = period()
    payload = {"period_start": start, "period_end": end, **data}
    if "period_start" not in data and data["scope_kind"] == "model" and len(data) > 1:
        payload["model"] = pack_model.pk
    if "period_start" in data:
        payload["model"] = pack_model.pk
    response = client_for(auditor).post(reverse("pack_create"), payload)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not EvidencePack.objects.exists()


def test_download_is_audited_and_served_as_an_attachment(client_for, auditor, ready_pack):
    response = client_for(auditor).get(reverse("pack_download", args=[ready_pack.pack_id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body == read(ready_pack)
    entry = AuditEntry.objects.filter(action=AuditAction.DOWNLOAD).get()
    assert entry.actor == auditor and entry.changes["sha256"] == ready_pack.sha256


def test_a_pack_that_is_not_ready_is_not_downloaded(client_for, auditor, pack_model):
    from governance.packs.services import pack_request

    start, end = period()
    pack = pack_request(actor=auditor, scope=PackScope(kind=PackScopeKind.MODEL, model=pack_model),
                        period_start=start, period_end=end, dispatch=False)
    client = client_for(auditor)
    assert client.get(reverse("pack_download", args=[pack.pack_id])).status_code == 409
    page = client.get(reverse("pack_detail", args=[pack.pack_id]))
    assert b'data-pack="polling"' in page.content and b'hx-trigger="every 2s"' in page.content
    fragment = client.get(reverse("pack_detail", args=[pack.pack_id]), HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b"Waiting for a worker" in fragment.content
    assert not AuditEntry.objects.filter(action=AuditAction.DOWNLOAD).exists()


def test_list_queries_do_not_grow_with_the_number_of_packs(client_for, auditor, pack_model):
    from governance.packs.services import pack_request

    client = client_for(auditor)
    start, end = period()
    scope = PackScope(kind=PackScopeKind.MODEL, model=pack_model)
    pack_request(actor=auditor, scope=scope, period_start=start, period_end=end, dispatch=False)
    client.get(reverse("pack_list"))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("pack_list"))
    for days in range(1, 12):
        pack_request(actor=auditor, scope=scope, period_start=start, period_end=end - dt.timedelta(days=days),
                     dispatch=False)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("pack_list"))
    assert response.content.decode().count('data-pack-status="queued"') == 12
    # One page of packs costs the same whatever its length: no query per row.
    assert len(many) == len(one)


# --- the public verification page ---------------------------------------------------------------------------

def test_anyone_may_verify_a_pack(client, ready_pack):
    assert client.get(reverse("pack_verify")).status_code == 200
    upload = SimpleUploadedFile("pack.pdf", read(ready_pack), content_type="application/pdf")
    response = client.post(reverse("pack_verify"), {"file": upload})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Verified: this pack is authentic and complete" in page
    assert "Built by this installation" in page
    assert str(ready_pack.pack_id) in page and ready_pack.signer_fingerprint in page
    assert "listings/risks.csv" in page and "Matches" in page


def test_a_tampered_pack_is_not_verified_on_the_page(client, ready_pack):
    data = bytearray(read(ready_pack))
    data[len(data) // 3] ^= 0x01
    response = client.post(reverse("pack_verify"), {"file": SimpleUploadedFile("pack.pdf", bytes(data))})
    assert response.status_code in (200, 400)
    page = response.content.decode()
    assert "Verified:" not in page
    assert "Not verified" in page or "cannot be read" in page


@pytest.mark.parametrize("body, name, message", [
    (b"GIF89a not a pdf at all", "pack.pdf", "This file is not a PDF."),
    (b"", "empty.pdf", "The submitted file is empty."),
    (b"%PDF-1.7\n%%EOF", "broken.pdf", "damaged or cannot be read"),
])
def test_hostile_uploads_get_a_clear_error(client, body, name, message):
    response = client.post(reverse("pack_verify"), {"file": SimpleUploadedFile(name, body)})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_an_oversized_upload_is_refused_before_it_is_read(client, settings):
    settings.WARDEN_PACK_MAX_UPLOAD_BYTES = 1000
    response = client.post(reverse("pack_verify"), {"file": SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * 200_000)})
    assert response.status_code == 413
    assert "too large" in response.content.decode()
    response = client.post(reverse("pack_verify"), {"file": SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * 2000)})
    assert response.status_code == 400 and "larger than" in response.content.decode()


def test_a_verify_page_missing_the_file_says_so(client):
    response = client.post(reverse("pack_verify"), {})
    assert response.status_code == 400 and "This field is required" in response.content.decode()


def test_the_list_polls_while_a_pack_is_being_built_and_answers_htmx_with_the_table(client_for, auditor, pack_model):
    from governance.packs.services import pack_request

    client = client_for(auditor)
    start, end = period()
    pack = pack_request(actor=auditor, scope=PackScope(kind=PackScopeKind.MODEL, model=pack_model),
                        period_start=start, period_end=end, dispatch=False)
    page = client.get(reverse("pack_list"))
    assert b'data-packs="polling"' in page.content and b'hx-trigger="every 2s"' in page.content
    fragment = client.get(reverse("pack_list"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="pack-table")
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<div id="pack-table"')
    EvidencePack.objects.filter(pk=pack.pk).update(status=PackStatus.FAILED, error="x")
    assert b'data-packs="idle"' in client.get(reverse("pack_list")).content
    scoped = client.get(reverse("pack_list"), {"scope": pack.scope_key})
    assert scoped.status_code == 200 and b"All scopes" in scoped.content
