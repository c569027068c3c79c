"""Evidence: a container with immutable revisions.

An item says what the evidence is about (a model, a dataset, requirements and controls it supports);
each revision is one collected version of it: a file or a generated result, with its SHA-256 and
dates. Revisions are never changed; a newer one supersedes. Freshness is computed from the dates.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

EXPIRING_WITHIN = timedelta(days=30)


class EvidenceSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    JOB_RUN = "job_run", "Evaluation run"
    ASSESSMENT = "assessment", "Completed assessment"
    TRAINING = "training", "Training completion"
    API = "api", "Submitted through the API"
    LINK = "link", "Link"


class Freshness(models.TextChoices):
    CURRENT = "current", "Current"
    EXPIRING = "expiring", "Expiring soon"
    EXPIRED = "expired", "Expired"


class EvidenceItem(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=12, choices=EvidenceSource.choices)
    # What produced it, as "<kind>:<id>" (e.g. "run:42"): repeated collection adds revisions to one item.
    source_key = models.CharField(max_length=120, blank=True, db_index=True)
    business_unit = models.ForeignKey("governance.BusinessUnit", on_delete=models.PROTECT, related_name="evidence")
    model = models.ForeignKey("governance.MLModel", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="evidence")
    dataset = models.ForeignKey("governance.Dataset", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="evidence")
    requirements = models.ManyToManyField("assessments.Requirement", blank=True, related_name="evidence")
    controls = models.ManyToManyField("assessments.ReferenceControl", blank=True, related_name="evidence")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source_key"], condition=~models.Q(source_key=""),
                                    name="unique_evidence_source_key"),
        ]

    def __str__(self) -> str:
        return self.title


class EvidenceRevision(models.Model):
    item = models.ForeignKey(EvidenceItem, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    file = models.FileField(max_length=255, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    content = models.JSONField(null=True, blank=True, help_text="a generated result, when there is no file")
    url = models.URLField(max_length=500, blank=True)
    media_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    collected_at = models.DateTimeField()
    effective_date = models.DateField()
    expires_at = models.DateField(null=True, blank=True)
    collector = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the daily expiry check once the people responsible were told this revision expires soon
    # (so they are told once, not every day). The only field ever written after a revision is made.
    expiry_flagged_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["item", "-number"]
        constraints = [models.UniqueConstraint(fields=["item", "number"], name="unique_evidence_revision")]

    def __str__(self) -> str:
        return f"{self.item} r{self.number}"

    def freshness(self, today: date | None = None) -> str:
        today = today or timezone.localdate()
        if self.expires_at is None or self.expires_at > today + EXPIRING_WITHIN:
            return Freshness.CURRENT
        return Freshness.EXPIRED if self.expires_at <= today else Freshness.EXPIRING
