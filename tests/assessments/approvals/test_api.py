"""The lifecycle API for pipelines: read the state, submit, deploy, retire, roll back; the ladder and bad input."""

import json

import pytest

from assessments.approvals import services
from assessments.models import LifecycleEvent, SignOff

pytestmark = pytest.mark.django_db


def url(version):
    return f"/api/models/{version.model_id}/versions/{version.pk}/lifecycle/"


def post(client, version, body):
    return client.post(url(version), data=json.dumps(body), content_type="application/json")


def test_anonymous_401_outsider_404_read_only_403(client, api_for, outsider, auditor, ready_version):
    assert client.get(url(ready_version)).status_code == 401
    assert api_for(outsider).get(url(ready_version)).status_code == 404
    assert post(api_for(outsider), ready_version, {"action": "submit"}).status_code == 404
    reader = api_for(auditor)
    assert reader.get(url(ready_version)).status_code == 200
    assert post(reader, ready_version, {"action": "submit"}).status_code == 403
    assert not LifecycleEvent.objects.exists()


def test_a_pipeline_submits_then_deploys_once_approved(api_for, ml_lead, risk_manager, dpo, ready_version):
    client = api_for(ml_lead)
    state = client.get(url(ready_version)).json()
    assert state["status"] == "draft" and state["missing_sign_offs"] == ["risk_manager", "dpo"]
    assert all(check["ok"] for check in state["checks"]) and state["checks"][0]["fix_url"].startswith("http")
    assert post(client, ready_version, {"action": "submit", "note": "from CI"}).json()["status"] == "in_review"
    # Approving is for people on the page; the API cannot sign.
    assert post(client, ready_version, {"action": "sign_off"}).status_code == 400
    response = post(client, ready_version, {"action": "deploy"})
    assert response.status_code == 409 and "in review now" in response.json()["error"]
    services.version_sign_off(actor=risk_manager, version=ready_version)
    services.version_sign_off(actor=dpo, version=ready_version)
    state = post(client, ready_version, {"action": "deploy", "note": "release 2024.11"}).json()
    assert state["status"] == "deployed" and not state["missing_sign_offs"]
    assert [e["action"] for e in state["events"]][:2] == ["deploy", "approve"]
    assert {s["role"] for s in state["sign_offs"]} == {"risk_manager", "dpo"}


def test_rollback_and_retire_through_the_api(api_for, ml_lead, risk_manager, dpo, high_model):
    from tests.assessments.approvals.builders import make_ready, new_version

    first, second = new_version(high_model, version="1.0"), new_version(high_model, version="2.0")
    for version in (first, second):
        make_ready(version)
        services.version_submit(actor=ml_lead, version=version)
        services.version_sign_off(actor=risk_manager, version=version)
        services.version_sign_off(actor=dpo, version=version)
        services.version_deploy(actor=ml_lead, version=version)
    client = api_for(ml_lead)
    assert post(client, second, {"action": "rollback"}).status_code == 400  # a reason is required
    assert post(client, second, {"action": "rollback", "reason": "bad", "target": 99999}).status_code == 400
    assert post(client, second, {"action": "rollback", "reason": "bad", "target": "1"}).status_code == 400
    state = post(client, second, {"action": "rollback", "reason": "Error rate tripled", "target": first.pk}).json()
    assert state["status"] == "retired"
    first.refresh_from_db()
    assert first.status == "deployed"
    assert post(client, first, {"action": "retire", "reason": "Model sunset"}).json()["status"] == "retired"


@pytest.mark.parametrize("body", [{}, {"action": "approve-all"}, {"action": "submit", "note": 5}, []])
def test_bad_input_is_a_400_and_nothing_moves(api_for, ml_lead, ready_version, body):
    response = api_for(ml_lead).post(url(ready_version), data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]
    ready_version.refresh_from_db()
    assert ready_version.status == "draft" and not LifecycleEvent.objects.exists() and not SignOff.objects.exists()


def test_an_unmet_precondition_is_a_409_naming_it(api_for, ml_lead, risk_manager, dpo, ready_version):
    from tests.assessments.approvals.builders import risk

    services.version_submit(actor=ml_lead, version=ready_version)
    services.version_sign_off(actor=risk_manager, version=ready_version)
    services.version_sign_off(actor=dpo, version=ready_version)
    risk(ready_version.model, level="critical")
    response = post(api_for(ml_lead), ready_version, {"action": "deploy"})
    assert response.status_code == 409 and "No open critical or high risk" in response.json()["error"]
