"""Evidence packs through the REST API: ask, follow, download (audited); the ladder and bad input."""

from __future__ import annotations

import uuid

import pytest
from django.test import TestCase
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from governance.models import AuditEntry, EvidencePack, PackStatus
from governance.models.audit import AuditAction
from governance.packs.verify import verify_pack
from tests.governance.packs.helpers import period

pytestmark = pytest.mark.django_db


def client_with_token(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def ask(client, scope, **dates):
    start, end = period()
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post("/api/packs/", {"scope": scope, "period_start": str(dates.get("start", start)),
                                           "period_end": str(dates.get("end", end))}, format="json")


def test_an_auditor_asks_follows_and_downloads_a_pack(pack_model, auditor):
    client = client_with_token(auditor)
    response = ask(client, f"model:{pack_model.pk}")
    assert response.status_code == 202, response.json()
    pack_id = response.json()["pack_id"]
    detail = client.get(f"/api/packs/{pack_id}/").json()
    assert detail["status"] == PackStatus.SUCCEEDED and detail["download"] == f"/api/packs/{pack_id}/download/"
    assert detail["requested_by"] == auditor.username and len(detail["sha256"]) == 64
    listed = client.get("/api/packs/", {"scope": f"model:{pack_model.pk}"}).json()
    assert [row["pack_id"] for row in listed["results"]] == [pack_id]
    download = client.get(detail["download"])
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    body = b"".join(download.streaming_content)
    assert verify_pack(body).ok and download["X-Checksum-SHA256"] == detail["sha256"]
    assert AuditEntry.objects.filter(action=AuditAction.DOWNLOAD, actor=auditor).count() == 1


def test_without_credentials_the_api_answers_401(pack_model):
    assert APIClient().get("/api/packs/").status_code == 401
    assert APIClient().post("/api/packs/", {}, format="json").status_code == 401


def test_roles_without_packs_get_403_and_outsiders_404(pack_model, ml_lead, outsider, research):
    from tests.factories import RoleGrantFactory, UserFactory

    assert client_with_token(ml_lead).get("/api/packs/").status_code == 403
    assert ask(client_with_token(ml_lead), f"model:{pack_model.pk}").status_code == 403
    research_auditor = UserFactory(username="research-auditor")
    RoleGrantFactory(user=research_auditor, role="auditor", business_unit=research)
    response = ask(client_with_token(research_auditor), f"model:{pack_model.pk}")
    assert response.status_code == 404 and response.json() == {"error": "Not found.", "fields": {}}
    assert ask(client_with_token(research_auditor), "org").status_code == 403
    assert not EvidencePack.objects.exists()


@pytest.mark.parametrize("payload, field", [
    ({"scope": "everything", "period_start": "2026-01-01", "period_end": "2026-02-01"}, "scope"),
    ({"scope": "model:999999", "period_start": "2026-01-01", "period_end": "2026-02-01"}, "scope"),
    ({"scope": "org", "period_start": "yesterday", "period_end": "2026-02-01"}, "period_start"),
    ({"scope": "org", "period_end": "2026-02-01"}, "period_start"),
    ({"scope": "org", "period_start": "2026-03-01", "period_end": "2026-02-01"}, "period_end"),
])
def test_bad_requests_get_400_with_the_field_named_and_nothing_saved(admin_user, catalog, payload, field):
    response = client_with_token(admin_user).post("/api/packs/", payload, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["error"] and field in body["fields"]
    assert not EvidencePack.objects.exists()


def test_a_pack_not_ready_answers_409_and_an_unknown_one_404(pack_model, auditor):
    from governance.packs.scope import PackScope
    from governance.packs.services import pack_request

    start, end = period()
    pack = pack_request(actor=auditor, scope=PackScope(kind="model", model=pack_model), period_start=start,
                        period_end=end, dispatch=False)
    client = client_with_token(auditor)
    response = client.get(f"/api/packs/{pack.pack_id}/download/")
    assert response.status_code == 409 and response.json()["error"] == "This pack is not ready yet."
    assert client.get(f"/api/packs/{uuid.uuid4()}/").status_code == 404
    assert client.get(f"/api/packs/{pack.pack_id}/").json()["download"] is None
