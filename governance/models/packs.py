"""Evidence packs: signed PDFs that show an auditor what Warden knows about a scope and a period.

A pack is a record first (who asked, for what scope and period, progress while a worker builds it)
and a file once built: the signed PDF with its SHA-256 and the fingerprint of the certificate that
signed it. Packs are never changed after they are built; a newer pack of the same scope names the
hash of the one before it in its manifest, so a series of packs forms a chain.
"""

import uuid

from django.conf import settings
from django.db import models


class PackScopeKind(models.TextChoices):
    MODEL = "model", "One model and its datasets"
    FRAMEWORK = "framework", "A framework for a business unit"
    ORGANISATION = "org", "The whole organisation"


class PackStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Building"
    SUCCEEDED = "succeeded", "Ready"
    FAILED = "failed", "Failed"


PACK_ACTIVE_STATUSES = (PackStatus.QUEUED, PackStatus.RUNNING)


class EvidencePack(models.Model):
    pack_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scope_kind = models.CharField(max_length=10, choices=PackScopeKind.choices)
    model = models.ForeignKey("governance.MLModel", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="evidence_packs")
    framework = models.ForeignKey("assessments.Framework", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="evidence_packs")
    business_unit = models.ForeignKey("governance.BusinessUnit", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="evidence_packs")
    # The scope in one string ("model:12", "framework:<urn>@unit:3", "org"): packs of the same scope
    # are a series, each naming the hash of the one before.
    scope_key = models.CharField(max_length=300, db_index=True)
    scope_label = models.CharField(max_length=300)
    period_start = models.DateField()
    period_end = models.DateField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    status = models.CharField(max_length=10, choices=PackStatus.choices, default=PackStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    # The claim of the worker building it (see governance/packs/services.py): a conditional UPDATE
    # hands it out; the lease runs out when the worker goes quiet, and another may take over.
    claim_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The built pack.
    file = models.FileField(max_length=255, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    item_count = models.PositiveIntegerField(null=True, blank=True)
    signer_subject = models.CharField(max_length=300, blank=True)
    signer_fingerprint = models.CharField(max_length=64, blank=True)
    previous_pack = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    previous_sha256 = models.CharField(max_length=64, blank=True)
    render_seconds = models.FloatField(null=True, blank=True)
    sign_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["scope_key", "-finished_at"])]

    def __str__(self) -> str:
        return f"Evidence pack {str(self.pack_id)[:8]} ({self.scope_label})"

    @property
    def is_active(self) -> bool:
        return self.status in PACK_ACTIVE_STATUSES

    @property
    def file_name(self) -> str:
        return f"warden-evidence-pack-{self.period_end:%Y%m%d}-{str(self.pack_id)[:8]}.pdf"
