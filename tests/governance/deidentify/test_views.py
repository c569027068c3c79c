"""The de-identification form and the job page: ladder, defaults from the scan, bad input."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.models.data_protection import DeidentificationJob

pytestmark = pytest.mark.django_db


def _url(version):
    return reverse("dataset_version_deidentify", args=[version.dataset_id, version.pk])


def _post_data(version, **overrides) -> dict:
    """What the form sends with its defaults, as a browser would."""
    defaults = {"full_name": ("drop", ""), "email": ("pseudonymise", ""), "ssn": ("pseudonymise", ""),
                "age": ("band", "10"), "postcode": ("prefix", "3"), "date_of_birth": ("year", ""),
                "income": ("keep", "")}
    data = {"new_version": "2024.1-deid"}
    for index, column in enumerate(version.column_names):
        action, param = overrides.get(column, defaults[column])
        data[f"action_{index}"] = action
        data[f"param_{index}"] = param
        if column in ("age", "postcode"):
            data[f"quasi_{index}"] = "on"
    return data


def test_needs_a_login(client, people_version):
    assert client.get(_url(people_version)).status_code == 302


def test_outsiders_get_404(client_for, outsider, people_version):
    client = client_for(outsider)
    assert client.get(_url(people_version)).status_code == 404
    assert client.post(_url(people_version), _post_data(people_version)).status_code == 404


@pytest.mark.parametrize("who", ["auditor", "dpo"])
def test_readers_get_403(client_for, who, request, people_version):
    client = client_for(request.getfixturevalue(who))
    assert client.get(_url(people_version)).status_code == 403
    assert client.post(_url(people_version), _post_data(people_version)).status_code == 403
    assert not DeidentificationJob.objects.exists()


def test_the_form_starts_from_the_scans_findings(client_for, ml_lead, people_version):
    response = client_for(ml_lead).get(_url(people_version))
    assert response.status_code == 200
    form = response.context["form"]
    actions = {row["column"]: row["action"].value() for row in form.rows}
    quasi = [row["column"] for row in form.rows if row["quasi"].value()]
    assert actions["email"] == "pseudonymise" and actions["ssn"] == "pseudonymise"
    assert actions["full_name"] == "drop" and actions["date_of_birth"] == "year"
    assert actions["age"] == "band" and actions["postcode"] == "prefix" and actions["income"] == "keep"
    assert "age" in quasi and "postcode" in quasi
    assert b"Defaults come from the dataset scan" in response.content


def test_an_ml_lead_makes_a_copy(client_for, ml_lead, people_version, django_capture_on_commit_callbacks):
    client = client_for(ml_lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(people_version), _post_data(people_version))
    job = DeidentificationJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("deidentify_job", args=[job.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Succeeded" in page and "k-anonymity" in page and f'data-k-anonymity="{job.k_anonymity}"' in page
    assert job.quasi_identifiers == ["age", "postcode"]
    detail = client.get(reverse("dataset_detail", args=[people_version.dataset_id])).content.decode()
    assert "De-identified copy of" in detail and "2024.1-deid" in detail


@pytest.mark.parametrize("overrides, message", [
    ({"email": ("keep", "")}, "found email in this column"),
    ({"age": ("band", "0")}, "between 1 and"),
    ({"age": ("band", "ten")}, "Enter a whole number"),
    ({"email": ("launch", "")}, "Select a valid choice"),
    ({"postcode": ("prefix", "99")}, "between 1 and 10"),
])
def test_bad_input_is_shown_on_the_form_and_queues_nothing(client_for, ml_lead, people_version, overrides, message):
    response = client_for(ml_lead).post(_url(people_version), _post_data(people_version, **overrides))
    assert response.status_code == 400 and message in response.content.decode()
    assert not DeidentificationJob.objects.exists()


def test_a_dropped_quasi_identifier_and_a_taken_label_are_refused(client_for, ml_lead, people_version):
    client = client_for(ml_lead)
    data = _post_data(people_version, age=("drop", ""))
    response = client.post(_url(people_version), data)
    assert response.status_code == 400 and "A dropped column cannot be a quasi-identifier" in response.content.decode()
    data = {**_post_data(people_version), "new_version": "2024.1"}
    response = client.post(_url(people_version), data)
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert not DeidentificationJob.objects.exists()


def test_the_job_page_follows_the_dataset_access(client, client_for, ml_lead, outsider, auditor, people_version,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(ml_lead).post(_url(people_version), _post_data(people_version))
    url = reverse("deidentify_job", args=[DeidentificationJob.objects.get().pk])
    client_for(outsider)
    assert client.get(url).status_code == 404
    client_for(auditor)
    assert client.get(url).status_code == 200
    assert client.post(url + "requeue/").status_code == 403


def test_the_job_status_fragment_for_htmx(client_for, ml_lead, people_version):
    from governance.deidentify import services

    job = services.deidentify_request(actor=ml_lead, version=people_version, new_version="queued-one",
                                      rules={"email": {"action": "drop"}, "full_name": {"action": "drop"},
                                             "ssn": {"action": "drop"}}, quasi_identifiers=[])
    response = client_for(ml_lead).get(reverse("deidentify_job", args=[job.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'hx-trigger="every 2s"' in body and "Waiting for a worker" in body


def test_a_version_too_wide_for_the_form_is_refused_clearly(client_for, ml_lead, retail_dataset):
    from tests.factories import DatasetVersionFactory

    wide = DatasetVersionFactory(dataset=retail_dataset, version="wide", column_count=400,
                                 schema=[{"name": f"c{i}", "dtype": "object"} for i in range(400)])
    response = client_for(ml_lead).get(_url(wide))
    assert response.status_code == 400 and "at most 300" in response.content.decode()


def test_an_erased_version_answers_410_on_the_form(client_for, ml_lead, dpo, people_version):
    from governance.retention.services import dataset_version_erase

    dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")
    response = client_for(ml_lead).get(_url(people_version))
    assert response.status_code == 410 and "nothing left to copy" in response.content.decode()
