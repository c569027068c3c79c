"""Retention and erasure services: what is past retention, who may erase, what erasure leaves behind."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage

from assessments.evaluations import runs
from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.crypto import storage as crypto_storage
from governance.crypto.envelope import HEADER_SIZE
from governance.crypto.errors import EncryptedStorageError
from governance.models import AuditEntry, DatasetVersion
from governance.models.data_protection import ErasureItemStatus, RetentionNotice
from governance.retention import selectors, services
from tests.factories import DatasetFactory, DatasetVersionFactory
from tests.governance.retention.conftest import MARKER_EMAIL, MARKER_NAME, age

pytestmark = pytest.mark.django_db


def entry_name_recorded(version, name: str) -> bool:
    return AuditEntry.objects.filter(object_id=str(version.pk), action="delete", changes__stored_as=name).exists()


def _files_under_media_root() -> list[Path]:
    return [Path(root) / name for root, _, names in os.walk(settings.MEDIA_ROOT) for name in names]


def _readable_copies_of(marker: bytes) -> list[str]:
    """Every file under MEDIA_ROOT whose raw bytes, or whose decrypted content, holds the marker."""
    found = []
    for path in _files_under_media_root():
        if marker in path.read_bytes():
            found.append(f"{path} (raw)")
            continue
        name = os.path.relpath(path, settings.MEDIA_ROOT)
        try:
            with default_storage.open(name, "rb") as handle:
                if marker in handle.read():
                    found.append(f"{path} (decrypted)")
        except EncryptedStorageError:
            continue
    return found


# --- past retention ----------------------------------------------------------------------------------------------

def test_versions_past_retention_are_computed_from_each_datasets_period(retail, ml_lead):
    month = DatasetFactory(name="Monthly", business_unit=retail, owner=ml_lead, retention_days=30)
    year = DatasetFactory(name="Yearly", business_unit=retail, owner=ml_lead, retention_days=365)
    forever = DatasetFactory(name="Forever", business_unit=retail, owner=ml_lead, retention_days=None)
    old_month = age(DatasetVersionFactory(dataset=month, version="old"), 31)
    age(DatasetVersionFactory(dataset=month, version="new"), 29)
    age(DatasetVersionFactory(dataset=year, version="old"), 300)
    very_old_year = age(DatasetVersionFactory(dataset=year, version="very-old"), 400)
    age(DatasetVersionFactory(dataset=forever, version="ancient"), 5000)
    erased = age(DatasetVersionFactory(dataset=month, version="erased"), 90)
    DatasetVersion.objects.filter(pk=erased.pk).update(erased_at=erased.created_at)

    due = set(selectors.versions_past_retention())

    assert due == {old_month, very_old_year}
    assert selectors.retention_due_at(old_month) == old_month.created_at + timedelta(days=30)


def test_daily_sweep_lists_each_version_once_and_tells_the_officers_of_its_unit_once(
        people_version, dpo, research_dpo, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    age(people_version, 400)

    with django_capture_on_commit_callbacks(execute=True):
        first = services.retention_sweep()
    with django_capture_on_commit_callbacks(execute=True):
        second = services.retention_sweep()

    assert first == {"past_retention": 1, "newly_listed": 1, "notified": 1, "emails": 1}
    assert second == {"past_retention": 1, "newly_listed": 0, "notified": 0, "emails": 0}
    assert [message.to for message in mail.outbox] == [[dpo.email]]  # not the Research officer
    assert "Loan applications · version 2024.1" in mail.outbox[0].body
    assert settings.WARDEN_BASE_URL.rstrip("/") + "/data-protection/" in mail.outbox[0].body
    notice = RetentionNotice.objects.get(version=people_version)
    assert notice.notified_at is not None and notice.notified_count == 1


def test_beat_runs_the_sweep_daily():
    from governance.celery import app

    entry = app.conf.beat_schedule["retention-daily-sweep"]
    assert entry["task"] == "governance.retention.tasks.retention_daily_sweep"
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "default"
    route = app.amqp.router.route({}, "governance.deidentify.tasks.deidentify_dataset_version")
    assert route["queue"].name == "scans"


# --- erasing ------------------------------------------------------------------------------------------------------

def test_erasure_destroys_the_file_keeps_a_tombstone_and_audits_who_and_why(people_version, dpo):
    stored = Path(settings.MEDIA_ROOT) / people_version.file.name
    assert stored.exists()
    sha, size, name = people_version.sha256, people_version.file_size, people_version.file_name

    services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")

    people_version.refresh_from_db()
    assert people_version.is_erased and people_version.erased_by == dpo
    assert people_version.erasure_reason == "Retention of one year ended."
    assert (people_version.sha256, people_version.file_size, people_version.file_name) == (sha, size, name)
    assert not stored.exists() and not default_storage.exists(str(stored.relative_to(settings.MEDIA_ROOT)))
    assert people_version.file.name == ""  # nothing looks for the blob again
    assert entry_name_recorded(people_version, str(stored.relative_to(settings.MEDIA_ROOT)))
    entry = AuditEntry.objects.filter(object_type="governance.DatasetVersion", object_id=str(people_version.pk),
                                      action="delete").get()
    assert entry.actor == dpo and entry.changes["reason"] == "Retention of one year ended."
    assert entry.changes["sha256"] == sha and entry.changes["erased"] is True
    assert "crypto-shredding" in entry.changes["method"]


def test_erasure_wipes_the_key_slots_before_the_blob_goes(people_version, dpo, tmp_path, monkeypatch):
    """What a disk still holds of the blob after unlinking cannot be decrypted: its key slots were zeroed first."""
    remnant = tmp_path / "remnant"
    real_remove = crypto_storage.os.remove

    def remove_but_keep_a_copy(path):
        shutil.copyfile(path, remnant)
        real_remove(path)

    monkeypatch.setattr(crypto_storage.os, "remove", remove_but_keep_a_copy)
    services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")

    left = remnant.read_bytes()
    assert left[:HEADER_SIZE] == bytes(HEADER_SIZE)
    assert len(left) > HEADER_SIZE  # the body was there, and is useless without a key
    remnant_name = "remnant.csv"
    shutil.copyfile(remnant, Path(settings.MEDIA_ROOT) / remnant_name)
    with pytest.raises(EncryptedStorageError):
        default_storage.open(remnant_name, "rb")


def test_after_erasure_no_readable_copy_remains_under_media_root(people_version, dpo):
    marker = MARKER_EMAIL.encode()
    # Before: the data is stored (encrypted: the raw bytes never hold it, the decrypted content does).
    assert not any(marker in path.read_bytes() for path in _files_under_media_root())
    assert _readable_copies_of(marker)
    # The scan ran on upload and left its evidence; its report holds masked examples only.
    assert EvaluationRun.objects.filter(dataset_version=people_version, status=RunStatus.SUCCEEDED).exists()

    services.dataset_version_erase(actor=dpo, version=people_version, reason="Subject asked: erasure request.")

    assert _readable_copies_of(marker) == []
    assert _readable_copies_of(MARKER_NAME.encode()) == []


@pytest.mark.parametrize("who", ["ml_lead", "auditor", "risk_manager", "research_dpo", "staff"])
def test_only_an_officer_of_the_unit_may_erase(people_version, who, request):
    actor = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        services.dataset_version_erase(actor=actor, version=people_version, reason="Retention of one year ended.")
    people_version.refresh_from_db()
    assert not people_version.is_erased and default_storage.exists(people_version.file.name)


def test_an_admin_may_erase(people_version, admin_user):
    services.dataset_version_erase(actor=admin_user, version=people_version, reason="Retention of one year ended.")
    assert DatasetVersion.objects.get(pk=people_version.pk).is_erased


@pytest.mark.parametrize("reason", ["", "   ", "too short", "x" * 2001, "null\x00byte reason"])
def test_a_bad_reason_erases_nothing(people_version, dpo, reason):
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        services.dataset_version_erase(actor=dpo, version=people_version, reason=reason)
    people_version.refresh_from_db()
    assert not people_version.is_erased and default_storage.exists(people_version.file.name)
    assert AuditEntry.objects.count() == before


def test_erasing_twice_is_refused(people_version, dpo):
    services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")
    with pytest.raises(ValidationError, match="already erased"):
        services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")


def test_a_failed_destruction_rolls_the_tombstone_back(people_version, dpo, monkeypatch):
    def broken_delete(name):
        raise OSError("disk on fire")

    monkeypatch.setattr(type(default_storage._wrapped), "delete", lambda self, name: broken_delete(name))
    with pytest.raises(OSError):
        services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")
    people_version.refresh_from_db()
    assert not people_version.is_erased


# --- scans and evaluations refuse an erased version ---------------------------------------------------------------

def test_a_scan_cannot_be_started_on_an_erased_version(people_version, dpo, ml_lead):
    services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")
    with pytest.raises(ValidationError, match="was erased on .*cannot be scanned"):
        runs.run_start(kind=RunKind.DATASET_SCAN, target=people_version, actor=ml_lead)


def test_a_scan_queued_before_the_erasure_fails_with_the_reason(people_version, dpo, ml_lead):
    run = EvaluationRun.objects.create(kind=RunKind.DATASET_SCAN, dataset_version=people_version,
                                       inputs=runs.target_inputs(people_version))
    services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")

    runs.run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "was erased on" in run.error and "cannot be scanned" in run.error


def test_the_weekly_rescan_skips_erased_versions(people_version, dpo):
    services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")
    EvaluationRun.objects.all().delete()
    assert runs.run_schedule_rescans() == []


# --- erasure requests ---------------------------------------------------------------------------------------------

def test_an_erasure_request_is_tracked_to_done(people_version, dpo, retail):
    from governance.models.data_protection import ErasureRequestStatus

    request = services.erasure_request_create(actor=dpo, business_unit=retail, subject_reference=MARKER_EMAIL,
                                              subject_details=f"{MARKER_NAME}, customer since 2019")
    assert request.status == ErasureRequestStatus.RECEIVED
    assert request.due_at == request.received_at + timedelta(days=30)
    item = services.erasure_request_add_version(actor=dpo, request=request, version=people_version)
    request.refresh_from_db()
    assert request.status == ErasureRequestStatus.IN_PROGRESS

    with pytest.raises(ValidationError, match="still to erase"):
        services.erasure_request_close(actor=dpo, request=request, status="done", outcome="All copies are gone now.")

    services.dataset_version_erase(actor=dpo, version=people_version, reason="Erasure request ER-00001.",
                                   request=request)
    item.refresh_from_db()
    assert item.status == ErasureItemStatus.ERASED and item.resolved_by == dpo
    entry = AuditEntry.objects.filter(object_type="governance.DatasetVersion", action="delete").get()
    assert entry.changes["erasure_requests"] == [request.reference_code]

    services.erasure_request_close(actor=dpo, request=request, status="done", outcome="Erased the only version.")
    request.refresh_from_db()
    assert request.status == ErasureRequestStatus.DONE and request.closed_by == dpo
    # The trail names the request, never the subject.
    for entry in AuditEntry.objects.filter(object_type="governance.ErasureRequest"):
        assert MARKER_EMAIL not in str(entry.changes) and MARKER_NAME not in entry.object_repr


def test_subject_reference_is_stored_only_encrypted_and_as_a_keyed_hash(dpo, retail):
    from django.db import connection

    request = services.erasure_request_create(actor=dpo, business_unit=retail, subject_reference=MARKER_EMAIL,
                                              subject_details=MARKER_NAME)
    with connection.cursor() as cursor:
        cursor.execute("SELECT subject_ref_hash, subject_reference, subject_details FROM "
                       "governance_erasurerequest WHERE id = %s", [request.pk])
        digest, reference, details = cursor.fetchone()
    assert MARKER_EMAIL not in reference and MARKER_NAME not in details
    assert reference.startswith("wf1$") and details.startswith("wf1$")
    assert MARKER_EMAIL not in digest and len(digest) == 64
    fresh = type(request).objects.get(pk=request.pk)
    assert fresh.subject_reference == MARKER_EMAIL and fresh.subject_details == MARKER_NAME
    # The hash finds a repeat request however the reference is written.
    with pytest.raises(ValidationError, match="already exists"):
        services.erasure_request_create(actor=dpo, business_unit=retail,
                                        subject_reference="  " + MARKER_EMAIL.upper() + " ")


@pytest.mark.parametrize("fields, message", [
    ({"subject_reference": ""}, "at least 3"),
    ({"subject_reference": "x" * 201}, "at most 200"),
    ({"received_at": "future"}, "future"),
    ({"received_at": "long ago"}, "more than a year"),
])
def test_bad_erasure_requests_save_nothing(dpo, retail, fields, message):
    from django.utils import timezone

    from governance.models.data_protection import ErasureRequest

    kwargs = {"subject_reference": "customer 1234", "received_at": timezone.localdate()}
    kwargs.update(fields)
    if kwargs["received_at"] == "future":
        kwargs["received_at"] = timezone.localdate() + timedelta(days=1)
    elif kwargs["received_at"] == "long ago":
        kwargs["received_at"] = timezone.localdate() - timedelta(days=400)
    with pytest.raises(ValidationError, match=message):
        services.erasure_request_create(actor=dpo, business_unit=retail, **kwargs)
    assert not ErasureRequest.objects.exists()


def test_erasure_requests_need_an_officer_of_the_unit(ml_lead, research_dpo, retail, dpo, people_version):
    for actor in (ml_lead, research_dpo):
        with pytest.raises(PermissionDenied):
            services.erasure_request_create(actor=actor, business_unit=retail, subject_reference="customer 1")
    request = services.erasure_request_create(actor=dpo, business_unit=retail, subject_reference="customer 1")
    with pytest.raises(PermissionDenied):
        services.erasure_request_add_version(actor=research_dpo, request=request, version=people_version)


def test_a_version_checked_as_not_held_lets_the_request_close(people_version, dpo, retail):
    request = services.erasure_request_create(actor=dpo, business_unit=retail, subject_reference="customer 77")
    item = services.erasure_request_add_version(actor=dpo, request=request, version=people_version)
    with pytest.raises(ValidationError):
        services.erasure_item_mark_not_held(actor=dpo, item=item, note="no")
    services.erasure_item_mark_not_held(actor=dpo, item=item, note="Searched e-mail and name columns: no match.")
    services.erasure_request_close(actor=dpo, request=request, status="done", outcome="Not held in any dataset.")
    with pytest.raises(ValidationError, match="is done"):
        services.erasure_request_add_version(actor=dpo, request=request, version=people_version)


def test_without_a_pseudonymisation_key_in_production_a_request_is_refused_clearly(dpo, retail, settings,
                                                                                    monkeypatch):
    from governance.models.data_protection import ErasureRequest

    settings.PRODUCTION = True
    monkeypatch.delenv("WARDEN_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("WARDEN_PSEUDONYM_KEY_FILE", raising=False)
    with pytest.raises(ValidationError, match="WARDEN_PSEUDONYM_KEY"):
        services.erasure_request_create(actor=dpo, business_unit=retail, subject_reference="customer 9")
    assert not ErasureRequest.objects.exists()


def test_erasure_scrubs_what_the_scans_kept_of_the_file(people_version, dpo):
    import json

    from assessments.models import Finding

    run = EvaluationRun.objects.get(dataset_version=people_version)
    assert "profile" in run.report and "Z*** Q***" in json.dumps(run.report)
    assert Finding.objects.filter(run=run, detail__contains="Examples, masked").count() == 4

    services.dataset_version_erase(actor=dpo, version=people_version, reason="Retention of one year ended.")

    run.refresh_from_db()
    text = json.dumps(run.report)
    assert "profile" not in run.report and "Examples, masked" not in text and "Z*** Q***" not in text
    assert run.report["rows"] == 60 and run.summary["personal_data_columns"]  # the counts and facts stay
    details = list(Finding.objects.filter(run=run, rule_id__startswith="pii.").values_list("detail", flat=True))
    assert details and all(d.endswith("(Masked examples removed: the version was erased.)") for d in details)
    assert all("examples" not in data for data in Finding.objects.filter(run=run).values_list("data", flat=True))
    entry = AuditEntry.objects.get(object_type="governance.DatasetVersion", action="delete")
    assert entry.changes["scan_records_scrubbed"] == {"runs": 1, "findings": 4}


def test_the_card_sentence_after_the_examples_is_kept():
    detail = ("3 of 3 values (100.0%). Examples, masked: ************1111, ***********4444. Luhn-valid numbers "
              "with a card issuer prefix: the dataset holds cardholder data.")
    assert services._without_examples(detail) == (
        "3 of 3 values (100.0%). (Masked examples removed: the version was erased.) Luhn-valid numbers with a "
        "card issuer prefix: the dataset holds cardholder data.")


def test_an_officer_keeps_a_version_for_now_and_it_comes_back_when_the_hold_ends(
        people_version, dpo, settings, django_capture_on_commit_callbacks):
    from django.utils import timezone

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    age(people_version, 400)
    with django_capture_on_commit_callbacks(execute=True):
        services.retention_sweep()
    today = timezone.localdate()

    services.retention_hold(actor=dpo, version=people_version, until=today + timedelta(days=30),
                            reason="Legal hold: litigation 2026-114.")

    assert list(selectors.versions_past_retention()) == []
    assert list(selectors.versions_past_retention(include_held=True)) == [people_version]
    entry = AuditEntry.objects.filter(object_id=str(people_version.pk), action="update",
                                      changes__reason="Legal hold: litigation 2026-114.").get()
    assert entry.actor == dpo
    # The day after the hold ends the version is listed, and the officers are told, again.
    later = timezone.now() + timedelta(days=31)
    assert list(selectors.versions_past_retention(now=later)) == [people_version]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.retention_sweep(now=later)["emails"] == 1


@pytest.mark.parametrize("days, reason, message", [
    (0, "Legal hold: litigation 2026-114.", "after today"),
    (-5, "Legal hold: litigation 2026-114.", "after today"),
    (400, "Legal hold: litigation 2026-114.", "at most 366 days"),
    (30, "hold", "at least 10"),
])
def test_bad_holds_are_refused(people_version, dpo, days, reason, message):
    from django.utils import timezone

    with pytest.raises(ValidationError, match=message):
        services.retention_hold(actor=dpo, version=people_version,
                                until=timezone.localdate() + timedelta(days=days), reason=reason)
    assert not RetentionNotice.objects.filter(held_until__isnull=False).exists()


@pytest.mark.parametrize("who", ["ml_lead", "auditor", "research_dpo"])
def test_only_an_officer_of_the_unit_may_keep_a_version(people_version, who, request):
    from django.utils import timezone

    with pytest.raises(PermissionDenied):
        services.retention_hold(actor=request.getfixturevalue(who), version=people_version,
                                until=timezone.localdate() + timedelta(days=30), reason="Legal hold: case 7.")
