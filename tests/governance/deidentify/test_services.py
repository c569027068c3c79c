"""De-identified copies end to end: request, worker (eager), new version with lineage, automatic re-scan."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage

from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.deidentify import services
from governance.deidentify.core import DIRECT_IDENTIFIERS
from governance.models import AuditEntry, DatasetVersion
from governance.models.data_protection import DeidentificationJob
from governance.retention.services import dataset_version_erase
from tests.governance.retention.conftest import MARKER_EMAIL, MARKER_NAME, upload_version

pytestmark = pytest.mark.django_db

DEFAULT_RULES = {
    "full_name": {"action": "drop"}, "email": {"action": "pseudonymise"}, "ssn": {"action": "pseudonymise"},
    "age": {"action": "band", "param": 10}, "postcode": {"action": "prefix", "param": 3},
    "date_of_birth": {"action": "year"},
}
QUASI = ["age", "postcode"]


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch):
    monkeypatch.setenv("WARDEN_PSEUDONYM_KEY", "test-a:" + base64.b64encode(b"k" * 32).decode())
    monkeypatch.delenv("WARDEN_PSEUDONYM_KEY_FILE", raising=False)


def _copy(actor, version, capture, *, label="2024.1-deid", rules=None, quasi=None) -> DeidentificationJob:
    with capture(execute=True):
        job = services.deidentify_request(actor=actor, version=version, new_version=label,
                                          rules=rules or DEFAULT_RULES, quasi_identifiers=quasi or QUASI)
    job.refresh_from_db()
    return job


def _read(version: DatasetVersion) -> pd.DataFrame:
    with version.file.open("rb") as handle:
        if version.file_format == "parquet":
            return pd.read_parquet(io.BytesIO(handle.read()))
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def test_the_copy_is_a_new_scanned_version_with_lineage_and_no_direct_identifiers(
        people_version, ml_lead, django_capture_on_commit_callbacks):
    source_scan = EvaluationRun.objects.get(dataset_version=people_version, kind=RunKind.DATASET_SCAN)
    assert set(source_scan.summary["personal_data_columns"]) >= {"full_name", "email", "ssn"}

    job = _copy(ml_lead, people_version, django_capture_on_commit_callbacks)

    assert job.status == "succeeded", job.error
    copy = job.result_version
    assert copy.dataset_id == people_version.dataset_id and copy.version == "2024.1-deid"
    assert copy.deidentified_from == job and job.source_version == people_version
    assert "De-identified copy of version 2024.1" in copy.notes
    frame = _read(copy)
    assert "full_name" not in frame.columns and len(frame) == 60
    assert frame["email"].str.startswith("ps_").all() and frame["date_of_birth"].str.fullmatch(r"19\d\d").all()
    # The upload hook scanned the copy: no direct identifier is left.
    rescan = EvaluationRun.objects.get(dataset_version=copy, kind=RunKind.DATASET_SCAN)
    assert rescan.status == RunStatus.SUCCEEDED
    found = {kind for kinds in rescan.summary["personal_data_columns"].values() for kind in kinds}
    assert not found & (DIRECT_IDENTIFIERS | {"name"}), rescan.summary["personal_data_columns"]
    # Audited: the request (by the ML lead) and the outcome (by the worker).
    assert AuditEntry.objects.filter(object_type="governance.DeidentificationJob", actor=ml_lead).exists()
    assert AuditEntry.objects.filter(object_type="governance.DeidentificationJob", actor_label="system",
                                     changes__status="succeeded").exists()


def test_k_anonymity_of_the_copy_is_counted_over_the_marked_columns(people_version, ml_lead,
                                                                     django_capture_on_commit_callbacks):
    job = _copy(ml_lead, people_version, django_capture_on_commit_callbacks)
    frame = _read(job.result_version)
    expected = int(frame.groupby(QUASI).size().min())
    assert job.k_anonymity == expected and job.summary["k_anonymity"]["quasi_identifiers"] == QUASI
    assert job.summary["rows"] == 60 and job.summary["dropped"] == ["full_name"]
    assert job.summary["pseudonym_key_id"] == "test-a"


def test_no_plaintext_copy_is_left_on_disk(people_version, ml_lead, django_capture_on_commit_callbacks):
    job = _copy(ml_lead, people_version, django_capture_on_commit_callbacks)
    files = [Path(root) / name for root, _, names in os.walk(settings.MEDIA_ROOT) for name in names]
    assert all(b"alice.1@example.com" not in path.read_bytes() for path in files)
    # The scratch file is gone; the copy itself holds no e-mail address even decrypted.
    assert not any("deidentify/" in str(path) for path in files)
    with job.result_version.file.open("rb") as handle:
        content = handle.read()
    assert MARKER_EMAIL.encode() not in content and MARKER_NAME.encode() not in content


def test_pseudonyms_match_across_versions_and_change_with_the_key(people_version, ml_lead, retail_dataset,
                                                                 django_capture_on_commit_callbacks, monkeypatch):
    first = _copy(ml_lead, people_version, django_capture_on_commit_callbacks, label="a")
    second = _copy(ml_lead, people_version, django_capture_on_commit_callbacks, label="b")
    monkeypatch.setenv("WARDEN_PSEUDONYM_KEY", "test-b:" + base64.b64encode(b"z" * 32).decode())
    third = _copy(ml_lead, people_version, django_capture_on_commit_callbacks, label="c")
    a, b, c = (_read(job.result_version)["email"] for job in (first, second, third))
    assert a.tolist() == b.tolist()
    assert set(a).isdisjoint(set(c))
    assert third.summary["pseudonym_key_id"] == "test-b"


def test_parquet_versions_are_copied_as_parquet(ml_lead, retail_dataset, django_capture_on_commit_callbacks):
    buffer = io.BytesIO()
    pd.DataFrame({"email": [f"p{i}@example.com" for i in range(30)], "age": [20 + i for i in range(30)],
                  "score": [i / 10 for i in range(30)]}).to_parquet(buffer, index=False)
    version = upload_version(actor=ml_lead, dataset=retail_dataset, version="pq", content=buffer.getvalue(),
                             name="people.parquet", capture=django_capture_on_commit_callbacks)
    job = _copy(ml_lead, version, django_capture_on_commit_callbacks, label="pq-deid",
                rules={"email": {"action": "pseudonymise"}, "age": {"action": "band", "param": 10}}, quasi=["age"])
    assert job.status == "succeeded", job.error
    assert job.result_version.file_format == "parquet" and job.k_anonymity == 10
    frame = _read(job.result_version)
    assert frame["age"].tolist()[:3] == ["20-29", "20-29", "20-29"]


@pytest.mark.parametrize("who", ["auditor", "dpo", "outsider"])
def test_only_those_who_may_add_versions_may_ask(people_version, who, request):
    with pytest.raises(PermissionDenied):
        services.deidentify_request(actor=request.getfixturevalue(who), version=people_version, new_version="x",
                                    rules=DEFAULT_RULES, quasi_identifiers=QUASI)
    assert not DeidentificationJob.objects.exists()


@pytest.mark.parametrize("label, rules, quasi, field", [
    ("", DEFAULT_RULES, QUASI, "new_version"),
    ("2024.1", DEFAULT_RULES, QUASI, "new_version"),  # taken
    ("bad\x07label", DEFAULT_RULES, QUASI, "new_version"),
    ("ok", {**DEFAULT_RULES, "email": {"action": "keep"}}, QUASI, "email"),
    ("ok", {**DEFAULT_RULES, "age": {"action": "band", "param": -1}}, QUASI, "age"),
    ("ok", DEFAULT_RULES, ["full_name"], "full_name"),
    ("ok", {**DEFAULT_RULES, "'; DROP TABLE x; --": {"action": "drop"}}, QUASI, "__all__"),
])
def test_bad_requests_queue_nothing(people_version, ml_lead, label, rules, quasi, field):
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        services.deidentify_request(actor=ml_lead, version=people_version, new_version=label, rules=rules,
                                    quasi_identifiers=quasi)
    assert field in caught.value.error_dict
    assert not DeidentificationJob.objects.exists() and AuditEntry.objects.count() == before


def test_an_erased_version_cannot_be_copied(people_version, ml_lead, dpo, django_capture_on_commit_callbacks):
    dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")
    with pytest.raises(ValidationError, match="erased"):
        services.deidentify_request(actor=ml_lead, version=people_version, new_version="x", rules=DEFAULT_RULES,
                                    quasi_identifiers=QUASI)


def test_a_job_whose_source_was_erased_meanwhile_fails_with_the_reason(people_version, ml_lead, dpo):
    job = services.deidentify_request(actor=ml_lead, version=people_version, new_version="late",
                                      rules=DEFAULT_RULES, quasi_identifiers=QUASI)  # not run: no commit here
    dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")
    services.deidentify_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "erased" in job.error and job.result_version is None


def test_an_unreadable_source_fails_cleanly_and_leaves_no_scratch(ml_lead, retail_dataset,
                                                                   django_capture_on_commit_callbacks):
    version = upload_version(actor=ml_lead, dataset=retail_dataset, version="bad", capture=None,
                             content=b"email,age\na@b.com,3\n")
    # The stored file was replaced behind Warden's back by something that is not CSV in UTF-8.
    with default_storage.open(version.file.name, "wb") as handle:
        handle.write(b"email,age\n\xff\xfe\x00garbage,\"unterminated\n")
    job = services.deidentify_request(actor=ml_lead, version=version, new_version="bad-deid",
                                      rules={"email": {"action": "pseudonymise"}}, quasi_identifiers=[])
    services.deidentify_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "could not be read" in job.error
    assert not DatasetVersion.objects.filter(version="bad-deid").exists()
    assert not default_storage.exists("deidentify") or default_storage.listdir("deidentify")[1] == []


def test_running_a_finished_job_again_changes_nothing(people_version, ml_lead, django_capture_on_commit_callbacks):
    job = _copy(ml_lead, people_version, django_capture_on_commit_callbacks)
    services.deidentify_execute(job_id=job.pk)
    assert DatasetVersion.objects.filter(dataset=people_version.dataset).count() == 2


def test_stale_jobs_are_sent_again_and_hopeless_ones_fail(people_version, ml_lead, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    sent = []
    monkeypatch.setattr(services, "_queue", sent.append)
    jobs = [services.deidentify_request(actor=ml_lead, version=people_version, new_version=f"j{i}",
                                        rules=DEFAULT_RULES, quasi_identifiers=QUASI) for i in range(4)]
    long_ago = timezone.now() - timedelta(hours=1)
    DeidentificationJob.objects.filter(pk=jobs[0].pk).update(created_at=long_ago)  # message lost
    DeidentificationJob.objects.filter(pk=jobs[1].pk).update(status="running", started_at=long_ago, attempts=1)
    DeidentificationJob.objects.filter(pk=jobs[2].pk).update(status="running", started_at=long_ago, attempts=3)
    # jobs[3]: queued a moment ago, left alone.

    assert sorted(services.deidentify_recover_stale()) == sorted([jobs[0].pk, jobs[1].pk])
    assert sorted(sent) == sorted([jobs[0].pk, jobs[1].pk])
    hopeless = DeidentificationJob.objects.get(pk=jobs[2].pk)
    assert hopeless.status == "failed" and "interrupted 3 times" in hopeless.error
    # The job a dead worker left running is claimed again by the next worker.
    assert services._claim(jobs[1].pk)


def test_beat_recovers_stale_jobs():
    from governance.celery import app

    entry = app.conf.beat_schedule["deidentify-recover-stale-jobs"]
    assert entry["task"] == "governance.deidentify.tasks.deidentify_recover_stale_jobs"


def test_a_time_limit_or_an_unexpected_error_fails_the_job_with_a_reason(people_version, ml_lead, monkeypatch):
    from governance.deidentify import core

    class SoftTimeLimitExceeded(Exception):  # what Celery raises in the task at the soft limit
        pass

    for error, message in ((SoftTimeLimitExceeded(), "took longer than 25 minutes"),
                           (KeyError("boom"), "failed unexpectedly")):
        def explode(*args, _error=error, **kwargs):
            raise _error

        monkeypatch.setattr(core, "deidentify_csv", explode)
        job = services.deidentify_request(actor=ml_lead, version=people_version, new_version=f"x{message[:4]}",
                                          rules=DEFAULT_RULES, quasi_identifiers=QUASI)
        services.deidentify_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == "failed" and message in job.error
    assert not default_storage.exists("deidentify") or default_storage.listdir("deidentify")[1] == []


def test_a_source_erased_during_the_copy_leaves_no_copy(people_version, ml_lead, dpo, monkeypatch):
    from governance.deidentify import core

    real = core.deidentify_csv

    def erase_halfway(*args, **kwargs):
        result = real(*args, **kwargs)
        dataset_version_erase(actor=dpo, version=people_version, reason="Erasure request ER-00007 (Art. 17).")
        return result

    monkeypatch.setattr(core, "deidentify_csv", erase_halfway)
    job = services.deidentify_request(actor=ml_lead, version=people_version, new_version="racing",
                                      rules=DEFAULT_RULES, quasi_identifiers=QUASI)
    services.deidentify_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "copy was discarded" in job.error
    assert not DatasetVersion.objects.filter(version="racing").exists()
    assert not default_storage.exists("deidentify") or default_storage.listdir("deidentify")[1] == []
