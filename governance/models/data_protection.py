"""Data protection inside Warden (issue 9): retention notices, erasure requests, de-identified copies.

Erasing a dataset version itself is recorded on the version (``DatasetVersion.erased_*``): the row
stays as a tombstone. What a data subject told us is personal data too, so it is kept encrypted
(``EncryptedTextField``) and the reference used to find a repeat request is a keyed hash.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models

from governance.crypto.fields import EncryptedTextField
from governance.models.inventory import DatasetVersion
from governance.models.org import BusinessUnit

# GDPR Art. 12(3): answer within one month of receipt.
ERASURE_REQUEST_DUE_DAYS = 30


class RetentionNotice(models.Model):
    """A version found past its dataset's retention by the daily job, and when the DPOs were told.

    Whether a version is past retention is computed from the dataset's retention period, never stored;
    this row only keeps the daily job from telling the officers about the same version twice.
    """

    version = models.OneToOneField(DatasetVersion, on_delete=models.CASCADE, related_name="retention_notice")
    listed_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)
    notified_count = models.PositiveIntegerField(default=0)
    # An officer decided to keep the version for now (a legal hold, an open dispute): it leaves the list
    # until then, and comes back (and is notified again) afterwards.
    held_until = models.DateField(null=True, blank=True)
    hold_reason = models.TextField(blank=True)
    held_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")

    def __str__(self) -> str:
        return f"Retention notice for {self.version}"


class ErasureRequestStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    REJECTED = "rejected", "Rejected"


OPEN_REQUEST_STATUSES = (ErasureRequestStatus.RECEIVED, ErasureRequestStatus.IN_PROGRESS)


class ErasureRequest(models.Model):
    """A data subject's request to have their data erased (GDPR Art. 17), tracked to done."""

    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.PROTECT, related_name="erasure_requests")
    # HMAC-SHA256 of the normalised reference under the pseudonymisation key: finds a repeat request
    # without keeping the reference readable.
    subject_ref_hash = models.CharField(max_length=64, db_index=True)
    subject_reference = EncryptedTextField("subject reference")
    subject_details = EncryptedTextField("how to identify the subject in the data", blank=True)
    received_at = models.DateField()
    due_at = models.DateField()
    status = models.CharField(max_length=12, choices=ErasureRequestStatus.choices,
                              default=ErasureRequestStatus.RECEIVED)
    outcome = EncryptedTextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return self.reference_code

    @property
    def reference_code(self) -> str:
        return f"ER-{self.pk:05d}" if self.pk else "ER-new"

    @staticmethod
    def due_for(received_at):
        return received_at + timedelta(days=ERASURE_REQUEST_DUE_DAYS)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES


class ErasureItemStatus(models.TextChoices):
    OPEN = "open", "To erase"
    ERASED = "erased", "Erased"
    NOT_HELD = "not_held", "Checked: not held"


class ErasureRequestItem(models.Model):
    """One dataset version that holds (or may hold) the subject of a request."""

    request = models.ForeignKey(ErasureRequest, on_delete=models.CASCADE, related_name="items")
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="erasure_request_items")
    status = models.CharField(max_length=10, choices=ErasureItemStatus.choices, default=ErasureItemStatus.OPEN)
    note = EncryptedTextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "version"], name="unique_erasure_item_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.request} · {self.version}"


class DeidentifyStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_DEIDENTIFY_STATUSES = (DeidentifyStatus.QUEUED, DeidentifyStatus.RUNNING)


class DeidentificationJob(models.Model):
    """A de-identified copy of a dataset version: what was asked, how it went, and the lineage."""

    source_version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="deidentified_copies")
    result_version = models.OneToOneField(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="deidentified_from"
    )
    new_version = models.CharField("label of the new version", max_length=60)
    # {column: {"action": ..., "param": int | None}} for every column of the source.
    rules = models.JSONField(default=dict)
    quasi_identifiers = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=DeidentifyStatus.choices, default=DeidentifyStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # Rows, k-anonymity over the quasi-identifiers, equivalence classes, pseudonym key id…
    summary = models.JSONField(default=dict, blank=True)
    k_anonymity = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "de-identification job"

    def __str__(self) -> str:
        return f"De-identified copy of {self.source_version} as {self.new_version}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_DEIDENTIFY_STATUSES
