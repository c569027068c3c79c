"""The de-identification API: the same ladder and checks as the page, JSON errors."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from governance.models.data_protection import DeidentificationJob
from governance.retention.services import dataset_version_erase

pytestmark = pytest.mark.django_db

BODY = {"new_version": "api-deid", "quasi_identifiers": ["age", "postcode"],
        "rules": {"full_name": {"action": "drop"}, "email": {"action": "pseudonymise"},
                  "ssn": {"action": "pseudonymise"}, "date_of_birth": {"action": "year"},
                  "age": {"action": "band", "param": 10}, "postcode": {"action": "prefix"}}}


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _url(version):
    return reverse("api_dataset_version_deidentify", args=[version.dataset_id, version.pk])


def test_ladder(people_version, outsider, auditor):
    assert _client().post(_url(people_version), BODY, format="json").status_code == 401
    assert _client(outsider).post(_url(people_version), BODY, format="json").status_code == 404
    assert _client(auditor).post(_url(people_version), BODY, format="json").status_code == 403
    assert not DeidentificationJob.objects.exists()


def test_a_pipeline_asks_for_a_copy_and_follows_the_job(people_version, ml_lead, auditor,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(ml_lead).post(_url(people_version), BODY, format="json")
    assert response.status_code == 202, response.content
    job_url = reverse("api_deidentification_job", args=[response.json()["id"]])
    job = _client(auditor).get(job_url).json()
    assert job["status"] == "succeeded" and job["k_anonymity"] >= 1 and job["result_version"]
    assert job["summary"]["dropped"] == ["full_name"]


@pytest.mark.parametrize("change, field", [
    ({"rules": {"email": {"action": "keep"}}}, "email"),
    ({"rules": {"age": {"action": "band", "param": 0}}}, "age"),
    ({"rules": {"age": {"action": "shred"}}}, "rules"),
    ({"new_version": ""}, "new_version"),
    ({"quasi_identifiers": ["nope"]}, None),
])
def test_bad_requests_get_a_json_error_and_queue_nothing(people_version, ml_lead, change, field):
    response = _client(ml_lead).post(_url(people_version), {**BODY, **change}, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"]
    if field:
        assert field in payload["fields"]
    assert not DeidentificationJob.objects.exists()


def test_an_erased_version_answers_410(people_version, ml_lead, dpo):
    dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")
    response = _client(ml_lead).post(_url(people_version), BODY, format="json")
    assert response.status_code == 410 and "erased" in response.json()["error"]


def test_jobs_of_invisible_datasets_are_404(people_version, ml_lead, outsider, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = _client(ml_lead).post(_url(people_version), BODY, format="json").json()["id"]
    assert _client(outsider).get(reverse("api_deidentification_job", args=[job_id])).status_code == 404
