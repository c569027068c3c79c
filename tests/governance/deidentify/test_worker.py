"""A de-identified copy made by a real Celery worker process (through Redis, on PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.deidentify import services
from governance.deidentify.core import DIRECT_IDENTIFIERS, Pseudonymiser
from governance.deidentify.keys import load_pseudonym_key
from governance.models.data_protection import DeidentificationJob
from governance.services import inventory
from tests.factories import DatasetFactory
from tests.governance.retention.conftest import MARKER_EMAIL, pii_csv

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 90


def _wait(worker, check, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        worker.assert_alive()
        time.sleep(0.3)
    pytest.fail(f"the worker did not {what} within {WAIT_SECONDS}s:\n{worker.log()[-4000:]}", pytrace=False)


def test_the_worker_makes_the_copy_and_it_is_rescanned(celery_worker_process, ml_lead, retail):
    dataset = DatasetFactory(name="Applicants", business_unit=retail, owner=ml_lead)
    source = inventory.dataset_version_create(
        actor=ml_lead, dataset=dataset, version="v1",
        file=SimpleUploadedFile("people.csv", pii_csv(), content_type="text/csv"))
    _wait(celery_worker_process, lambda: EvaluationRun.objects.filter(
        dataset_version=source, status=RunStatus.SUCCEEDED).exists(), "scan the source")

    job = services.deidentify_request(
        actor=ml_lead, version=source, new_version="v1-deid",
        rules={"full_name": {"action": "drop"}, "email": {"action": "pseudonymise"},
               "ssn": {"action": "pseudonymise"}, "date_of_birth": {"action": "year"},
               "age": {"action": "band", "param": 10}, "postcode": {"action": "prefix", "param": 3}},
        quasi_identifiers=["age", "postcode"])
    done = _wait(celery_worker_process, lambda: DeidentificationJob.objects.filter(
        pk=job.pk, status__in=["succeeded", "failed"]).first(), "make the copy")

    assert done.status == "succeeded", done.error
    assert "deidentify_dataset_version" in celery_worker_process.log()
    rescan = _wait(celery_worker_process, lambda: EvaluationRun.objects.filter(
        dataset_version=done.result_version, kind=RunKind.DATASET_SCAN, status=RunStatus.SUCCEEDED).first(),
        "re-scan the copy")
    found = {kind for kinds in rescan.summary["personal_data_columns"].values() for kind in kinds}
    assert not found & (DIRECT_IDENTIFIERS | {"name"})
    # The worker used the same key as this process: its pseudonym of the marker is the one we compute.
    key = load_pseudonym_key()
    with done.result_version.file.open("rb") as handle:
        assert Pseudonymiser(key.key).one(MARKER_EMAIL).encode() in handle.read()
