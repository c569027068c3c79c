"""Retention and erasure: writes.

Erasing a dataset version is crypto-shredding. ``EncryptedFileSystemStorage.delete()`` first
overwrites the file's two key slots (the only copies of its wrapped data key) with zeros and fsyncs,
then removes the blob: whatever a disk or a backup still holds of the body can never be decrypted
again. The row stays as a tombstone (file name, size, SHA-256, schema, who erased it, when and why),
so the lineage of models trained on it still reads, and the audit trail records the erasure.

Order inside ``dataset_version_erase``: mark the row, write the audit entry, then destroy the file,
all in one transaction. If destroying fails the transaction rolls back and nothing claims an erasure
that did not happen; if the commit fails after the file was destroyed, the data is gone anyway and
running the erasure again completes the record (deleting a missing file is not an error).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from governance import access
from governance.access import Capability
from governance.models import BusinessUnit, DatasetVersion, Role, RoleGrant
from governance.models.audit import AuditAction
from governance.models.data_protection import (
    ErasureItemStatus,
    ErasureRequest,
    ErasureRequestItem,
    ErasureRequestStatus,
    RetentionNotice,
)
from governance.retention import selectors
from governance.services.audit import audit_record

logger = logging.getLogger(__name__)

REASON_MIN = 10
REASON_MAX = 2000
REFERENCE_MAX = 200
DETAILS_MAX = 4000


def can_erase(user, dataset) -> bool:
    return access.access_profile(user).can(Capability.MANAGE_DATA_PROTECTION, dataset.business_unit_id)


def _clean_text(value, *, field: str, label: str, minimum: int = 0, maximum: int) -> str:
    text = (value or "").strip()
    if len(text) < max(minimum, 1) and minimum:
        raise ValidationError({field: f"{label} must be at least {minimum} characters."}, code="too_short")
    if len(text) > maximum:
        raise ValidationError({field: f"{label} must be at most {maximum} characters."}, code="too_long")
    if "\x00" in text:
        raise ValidationError({field: f"{label} contains a NUL character."}, code="control_chars")
    return text


# --- erasing a version -------------------------------------------------------------------------------------------

def dataset_version_erase(*, actor, version: DatasetVersion, reason: str,
                          request: ErasureRequest | None = None) -> DatasetVersion:
    """Destroy the version's file and keep its row as a tombstone. Only data-protection officers."""
    dataset = version.dataset
    if not can_erase(actor, dataset):
        raise PermissionDenied("Only a data-protection officer of this dataset's business unit may erase it.")
    reason = _clean_text(reason, field="reason", label="The reason", minimum=REASON_MIN, maximum=REASON_MAX)
    if request is not None and not request.is_open:
        raise ValidationError("That erasure request is closed.", code="request_closed")
    with transaction.atomic():
        locked = DatasetVersion.objects.select_for_update().select_related("dataset").get(pk=version.pk)
        if locked.erased_at is not None:
            raise ValidationError(
                f"Version {locked.version} was already erased on {locked.erased_at:%d %b %Y}.", code="already_erased"
            )
        now = timezone.now()
        due = selectors.retention_due_at(locked)
        stored_name = locked.file.name
        locked.erased_at = now
        locked.erased_by = actor
        locked.erasure_reason = reason
        # No name left to open: nothing (downloads, scans, rotate_keys' missing-file check) looks for the blob.
        locked.file.name = ""
        locked.save(update_fields=["erased_at", "erased_by", "erasure_reason", "file"])
        items = list(ErasureRequestItem.objects.filter(version=locked, status=ErasureItemStatus.OPEN)
                     .select_related("request"))
        ErasureRequestItem.objects.filter(pk__in=[item.pk for item in items]).update(
            status=ErasureItemStatus.ERASED, resolved_by=actor, resolved_at=now)
        scrubbed = _scrub_scan_records(locked)
        audit_record(
            actor=actor, action=AuditAction.DELETE, obj=locked,
            changes={
                "erased": True, "reason": reason, "file_name": locked.file_name, "sha256": locked.sha256,
                "size": locked.file_size, "stored_as": stored_name, "retention_days": dataset.retention_days,
                "past_retention_since": due.isoformat() if due and due <= now else None,
                "erasure_requests": sorted({item.request.reference_code for item in items}
                                           | ({request.reference_code} if request else set())),
                "method": "crypto-shredding: key slots wiped, then the file removed",
                "scan_records_scrubbed": scrubbed,
            },
        )
        if stored_name:
            # Inside the transaction on purpose (see the module docstring).
            locked.file.storage.delete(stored_name)
    version.refresh_from_db()
    return version


_EXAMPLES_SENTENCE = re.compile(r" Examples, masked: .*?\.(?=$| [A-Z][a-z])", re.S)
EXAMPLES_REMOVED = " (Masked examples removed: the version was erased.)"


def _without_examples(value):
    """A scan's report or finding data without masked examples or value profiles (hashed frequencies,
    quantiles): what is left are counts and column-level facts, which hold nothing about a person."""
    if isinstance(value, dict):
        return {key: _without_examples(item) for key, item in value.items() if key not in ("examples", "profile")}
    if isinstance(value, list):
        return [_without_examples(item) for item in value]
    if isinstance(value, str) and "Examples, masked:" in value:
        return _EXAMPLES_SENTENCE.sub(EXAMPLES_REMOVED, value)
    return value


def _scrub_scan_records(version: DatasetVersion) -> dict:
    """Erasure reaches what the scans kept of the file: masked examples in findings and the value
    profiles used for drift. Evidence revisions are immutable records and keep their content."""
    from assessments.models import EvaluationRun, Finding  # assessments builds on governance

    runs = list(EvaluationRun.objects.filter(dataset_version=version).only("pk", "report"))
    for run in runs:
        cleaned = _without_examples(run.report or {})
        if cleaned != run.report:
            EvaluationRun.objects.filter(pk=run.pk).update(report=cleaned)
    findings = 0
    for finding in Finding.objects.filter(run__in=runs).only("pk", "detail", "data"):
        detail, data = _without_examples(finding.detail), _without_examples(finding.data or {})
        if (detail, data) != (finding.detail, finding.data):
            Finding.objects.filter(pk=finding.pk).update(detail=detail, data=data)
            findings += 1
    return {"runs": len(runs), "findings": findings}


HOLD_MAX_DAYS = 366


def retention_hold(*, actor, version: DatasetVersion, until: date, reason: str) -> RetentionNotice:
    """Keep a version past its retention for now (a legal hold, an open dispute), with the reason: it
    leaves the officers' list until ``until`` and is listed and notified again afterwards."""
    if not can_erase(actor, version.dataset):
        raise PermissionDenied("Only a data-protection officer of this dataset's business unit may decide this.")
    if version.erased_at is not None:
        raise ValidationError("This version was already erased.", code="already_erased")
    reason = _clean_text(reason, field="reason", label="The reason", minimum=REASON_MIN, maximum=REASON_MAX)
    today = timezone.localdate()
    if not isinstance(until, date) or until <= today:
        raise ValidationError({"until": "Choose a date after today."}, code="past")
    if until > today + timedelta(days=HOLD_MAX_DAYS):
        raise ValidationError({"until": f"Keep it for at most {HOLD_MAX_DAYS} days at a time, then decide again."},
                              code="too_long")
    with transaction.atomic():
        notice, _ = RetentionNotice.objects.select_for_update().get_or_create(
            version=version, defaults={"listed_at": timezone.now()})
        notice.held_until, notice.hold_reason, notice.held_by = until, reason, actor
        # Told again when the hold ends.
        notice.notified_at = None
        notice.save(update_fields=["held_until", "hold_reason", "held_by", "notified_at"])
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=version,
                     changes={"retention_hold_until": until, "reason": reason})
    return notice


# --- the daily retention job -------------------------------------------------------------------------------------

def _officers_for(unit_ids: set[int]) -> dict[int, set[int]]:
    """user id → the unit ids (of ``unit_ids``) they are data-protection officer of, through the tree."""
    parents = dict(BusinessUnit.objects.values_list("id", "parent_id"))

    def ancestors(unit_id):
        while unit_id is not None:
            yield unit_id
            unit_id = parents.get(unit_id)

    grants = list(RoleGrant.objects.filter(role=Role.DATA_PROTECTION_OFFICER, user__is_active=True)
                  .values_list("user_id", "business_unit_id"))
    officers: dict[int, set[int]] = {}
    for unit_id in unit_ids:
        chain = set(ancestors(unit_id))
        for user_id, granted_unit in grants:
            if granted_unit in chain:
                officers.setdefault(user_id, set()).add(unit_id)
    return officers


def retention_sweep(*, now=None) -> dict:
    """List every version past retention (a notice per version, once) and e-mail each data-protection
    officer the versions in their units that they have not been told about. Idempotent: running it
    twice on one day sends nothing the second time."""
    from django.contrib.auth import get_user_model

    now = now or timezone.now()
    due = list(selectors.versions_past_retention(now=now).select_related("dataset", "dataset__business_unit"))
    known = set(RetentionNotice.objects.filter(version__in=due).values_list("version_id", flat=True))
    RetentionNotice.objects.bulk_create(
        [RetentionNotice(version=version, listed_at=now) for version in due if version.pk not in known],
        ignore_conflicts=True,
    )
    pending = {version.pk: version for version in due}
    to_tell = list(RetentionNotice.objects.filter(version_id__in=pending, notified_at__isnull=True)
                   .values_list("version_id", flat=True))
    if not to_tell:
        return {"past_retention": len(due), "newly_listed": len(due) - len(known), "notified": 0, "emails": 0}
    officers = _officers_for({pending[version_id].dataset.business_unit_id for version_id in to_tell})
    users = get_user_model().objects.in_bulk(list(officers))
    messages = []
    told: set[int] = set()
    for user_id, unit_ids in officers.items():
        user = users.get(user_id)
        versions = [pending[pk] for pk in to_tell if pending[pk].dataset.business_unit_id in unit_ids]
        if not versions or not user or not user.email:
            continue
        told.update(version.pk for version in versions)
        body = render_to_string("governance/retention/email/past_retention.txt", {
            "user": user, "versions": [(version, selectors.retention_due_at(version)) for version in versions],
            "page_url": settings.WARDEN_BASE_URL.rstrip("/") + reverse("data_protection"),
        })
        messages.append(EmailMessage(
            subject=f"Warden: {len(versions)} dataset version{'s' if len(versions) != 1 else ''} past retention",
            body=body, to=[user.email],
        ))
    with transaction.atomic():
        # Recorded before sending, so a crash after sending cannot send the same notice twice.
        RetentionNotice.objects.filter(version_id__in=told, notified_at__isnull=True).update(
            notified_at=now, notified_count=F("notified_count") + 1)
        if messages:
            transaction.on_commit(lambda: get_connection().send_messages(messages))
    return {"past_retention": len(due), "newly_listed": len(due) - len(known), "notified": len(told),
            "emails": len(messages)}


# --- erasure requests --------------------------------------------------------------------------------------------

def subject_reference_hash(reference: str) -> str:
    """A keyed hash of a subject reference (trimmed, case-folded, inner spaces collapsed): a repeat
    request is found without the reference being readable in the database."""
    from governance.deidentify.keys import load_pseudonym_key

    normalised = " ".join(reference.split()).casefold()
    key = load_pseudonym_key()
    return hmac.new(key.key, b"warden-erasure-subject-v1\x00" + normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def _require_officer(actor, business_unit_id: int) -> None:
    if not access.access_profile(actor).can(Capability.MANAGE_DATA_PROTECTION, business_unit_id):
        raise PermissionDenied("Only a data-protection officer of this business unit may do this.")


def erasure_request_create(*, actor, business_unit: BusinessUnit, subject_reference: str, subject_details: str = "",
                           received_at: date | None = None) -> ErasureRequest:
    _require_officer(actor, business_unit.pk)
    reference = _clean_text(subject_reference, field="subject_reference", label="The subject reference",
                            minimum=3, maximum=REFERENCE_MAX)
    details = _clean_text(subject_details, field="subject_details", label="The details", maximum=DETAILS_MAX)
    today = timezone.localdate()
    received_at = received_at or today
    if received_at > today:
        raise ValidationError({"received_at": "The request cannot have been received in the future."})
    if received_at < today - timedelta(days=366):
        raise ValidationError({"received_at": "The date is more than a year ago; check it."})
    try:
        digest = subject_reference_hash(reference)
    except ImproperlyConfigured as exc:
        raise ValidationError(f"Erasure requests cannot be recorded until the pseudonymisation key is set: {exc}",
                              code="no_key") from None
    repeat = ErasureRequest.objects.filter(subject_ref_hash=digest, business_unit=business_unit,
                                           status__in=[ErasureRequestStatus.RECEIVED, ErasureRequestStatus.IN_PROGRESS]
                                           ).first()
    if repeat is not None:
        raise ValidationError(
            {"subject_reference": f"An open request for this subject already exists: {repeat.reference_code}."},
            code="duplicate",
        )
    request = ErasureRequest(
        business_unit=business_unit, subject_ref_hash=digest, subject_reference=reference, subject_details=details,
        received_at=received_at, due_at=ErasureRequest.due_for(received_at), created_by=actor,
    )
    with transaction.atomic():
        request.save()
        # The trail names the request, never the subject.
        audit_record(actor=actor, action=AuditAction.CREATE, obj=request,
                     changes={"business_unit": str(business_unit), "received_at": received_at,
                              "due_at": request.due_at})
    return request


def _lock_open(request: ErasureRequest) -> ErasureRequest:
    locked = ErasureRequest.objects.select_for_update().get(pk=request.pk)
    if not locked.is_open:
        raise ValidationError(f"{locked.reference_code} is {locked.get_status_display().lower()}.", code="closed")
    return locked


def erasure_request_add_version(*, actor, request: ErasureRequest, version: DatasetVersion,
                                note: str = "") -> ErasureRequestItem:
    """Record that a dataset version holds (or may hold) the subject."""
    _require_officer(actor, request.business_unit_id)
    if not access.visible_datasets(actor).filter(pk=version.dataset_id).exists() or not can_erase(
            actor, version.dataset):
        raise ValidationError({"version": "Choose a dataset version in your business units."}, code="invisible")
    note = _clean_text(note, field="note", label="The note", maximum=DETAILS_MAX)
    with transaction.atomic():
        locked = _lock_open(request)
        if ErasureRequestItem.objects.filter(request=locked, version=version).exists():
            raise ValidationError({"version": "This version is already listed."}, code="duplicate")
        erased = version.erased_at is not None
        item = ErasureRequestItem.objects.create(
            request=locked, version=version, note=note, added_by=actor,
            status=ErasureItemStatus.ERASED if erased else ErasureItemStatus.OPEN,
            resolved_at=version.erased_at if erased else None, resolved_by=version.erased_by if erased else None,
        )
        if locked.status == ErasureRequestStatus.RECEIVED:
            ErasureRequest.objects.filter(pk=locked.pk).update(status=ErasureRequestStatus.IN_PROGRESS)
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=locked,
                     changes={"holds_version": str(version), "version_id": version.pk})
    request.refresh_from_db()
    return item


def erasure_item_mark_not_held(*, actor, item: ErasureRequestItem, note: str) -> ErasureRequestItem:
    """The officer checked the version: the subject is not in it."""
    _require_officer(actor, item.request.business_unit_id)
    note = _clean_text(note, field="note", label="What was checked", minimum=REASON_MIN, maximum=DETAILS_MAX)
    with transaction.atomic():
        _lock_open(item.request)
        updated = ErasureRequestItem.objects.filter(pk=item.pk, status=ErasureItemStatus.OPEN).update(
            status=ErasureItemStatus.NOT_HELD, note=note, resolved_by=actor, resolved_at=timezone.now())
        if not updated:
            raise ValidationError("This version is already resolved.", code="resolved")
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=item.request,
                     changes={"version_id": item.version_id, "item": "checked: not held"})
    item.refresh_from_db()
    return item


def erasure_request_close(*, actor, request: ErasureRequest, status: str, outcome: str) -> ErasureRequest:
    """Done (every listed version erased or checked) or rejected (with the exemption relied on)."""
    _require_officer(actor, request.business_unit_id)
    if status not in (ErasureRequestStatus.DONE, ErasureRequestStatus.REJECTED):
        raise ValidationError({"status": "Close a request as done or rejected."}, code="bad_status")
    outcome = _clean_text(outcome, field="outcome", label="The outcome", minimum=REASON_MIN, maximum=DETAILS_MAX)
    with transaction.atomic():
        locked = _lock_open(request)
        open_items = locked.items.filter(status=ErasureItemStatus.OPEN).count()
        if status == ErasureRequestStatus.DONE and open_items:
            raise ValidationError(
                f"{open_items} listed version{'s are' if open_items != 1 else ' is'} still to erase or check.",
                code="items_open",
            )
        locked.status = status
        locked.outcome = outcome
        locked.closed_by = actor
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "outcome", "closed_by", "closed_at"])
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=locked,
                     changes={"status": status, "items": locked.items.count()})
    request.refresh_from_db()
    return request
