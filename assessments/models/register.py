"""What an organisation concluded: assessments, risks, controls in place, requirement results.

Reference content (catalog.py) is shared and versioned; everything here belongs to one model in the
inventory and so to its business unit, which decides who may see it. Foreign keys to reference
content PROTECT: a catalogue upgrade deprecates, never deletes, what an assessment refers to.
"""

from django.conf import settings
from django.db import models

from assessments.models.catalog import ReferenceControl, Requirement, RiskMatrix, Threat
from governance.crypto.fields import EncryptedJSONField


class AssessmentKind(models.TextChoices):
    THREAT_MODEL = "threat_model", "Threat model"
    DPIA = "dpia", "Privacy impact assessment (PIA/DPIA)"


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    COMPLETED = "completed", "Completed, awaiting sign-off"
    SIGNED_OFF = "signed_off", "Signed off"


class Assessment(models.Model):
    """One run of a wizard (a question set) for one model version. Answers are kept as data."""

    kind = models.CharField(max_length=20, choices=AssessmentKind.choices)
    model = models.ForeignKey("governance.MLModel", on_delete=models.CASCADE, related_name="assessments")
    model_version = models.ForeignKey(
        "governance.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="assessments"
    )
    title = models.CharField(max_length=200)
    question_set = models.CharField(max_length=200, help_text="URN of the question set the answers follow")
    question_set_version = models.PositiveIntegerField()
    # Encrypted at rest: free-text answers name people (data subjects, staff) and their circumstances.
    answers = EncryptedJSONField(default=dict, blank=True)
    current_step = models.CharField(max_length=80, blank=True)
    # Optimistic locking: every save must name the revision it started from.
    revision = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=12, choices=AssessmentStatus.choices, default=AssessmentStatus.DRAFT)
    result = models.JSONField(default=dict, blank=True, help_text="computed outcome, e.g. whether a DPIA is mandatory")
    risk_matrix = models.ForeignKey(RiskMatrix, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    sign_off_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["model", "kind", "status"])]

    def __str__(self) -> str:
        return self.title


class Treatment(models.TextChoices):
    UNDECIDED = "undecided", "Not decided"
    MITIGATE = "mitigate", "Mitigate"
    ACCEPT = "accept", "Accept"
    TRANSFER = "transfer", "Transfer"
    AVOID = "avoid", "Avoid"


class TreatmentStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class Risk(models.Model):
    """A threat applied to one model: its own likelihood, impact, treatment and residual level."""

    model = models.ForeignKey("governance.MLModel", on_delete=models.CASCADE, related_name="risks")
    assessment = models.ForeignKey(
        Assessment, null=True, blank=True, on_delete=models.SET_NULL, related_name="risks"
    )
    threat = models.ForeignKey(Threat, null=True, blank=True, on_delete=models.PROTECT, related_name="risks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    component = models.CharField(max_length=80, blank=True, help_text="the part of the ML system it hits")
    lifecycle_stage = models.CharField(max_length=20, blank=True)
    matrix = models.ForeignKey(RiskMatrix, on_delete=models.PROTECT, related_name="risks")
    # Level ids of the matrix. The levels are stored too (computed by the service from the matrix)
    # so that the register can filter and sort on them in SQL.
    inherent_likelihood = models.CharField(max_length=40)
    inherent_impact = models.CharField(max_length=40)
    inherent_level = models.CharField(max_length=40)
    inherent_rank = models.PositiveSmallIntegerField(help_text="position of the level in the matrix, 0 = lowest")
    residual_likelihood = models.CharField(max_length=40, blank=True)
    residual_impact = models.CharField(max_length=40, blank=True)
    residual_level = models.CharField(max_length=40, blank=True)
    residual_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    treatment = models.CharField(max_length=12, choices=Treatment.choices, default=Treatment.UNDECIDED)
    treatment_status = models.CharField(max_length=12, choices=TreatmentStatus.choices, default=TreatmentStatus.OPEN)
    treatment_note = models.TextField(blank=True)
    controls = models.ManyToManyField(ReferenceControl, blank=True, related_name="treating_risks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_risks"
    )
    due_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-inherent_rank", "title", "id"]
        indexes = [
            models.Index(fields=["model", "inherent_rank"]),
            models.Index(fields=["inherent_level"]),
            models.Index(fields=["treatment_status"]),
        ]

    def __str__(self) -> str:
        return self.title


class ControlStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IMPLEMENTED = "implemented", "Implemented"
    VERIFIED = "verified", "Verified"


class AppliedControl(models.Model):
    """A reference control as one model actually has it (or plans to)."""

    model = models.ForeignKey("governance.MLModel", on_delete=models.CASCADE, related_name="applied_controls")
    control = models.ForeignKey(ReferenceControl, on_delete=models.PROTECT, related_name="applications")
    status = models.CharField(max_length=12, choices=ControlStatus.choices, default=ControlStatus.PLANNED)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    note = models.TextField(blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "control"], name="unique_applied_control")]

    def __str__(self) -> str:
        return f"{self.control} on {self.model}"


class ResultStatus(models.TextChoices):
    NOT_ASSESSED = "not_assessed", "Not assessed"
    MET = "met", "Met"
    PARTIAL = "partial", "Partially met"
    GAP = "gap", "Gap"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class RequirementResult(models.Model):
    """What the organisation concluded about one requirement for one model."""

    model = models.ForeignKey("governance.MLModel", on_delete=models.CASCADE, related_name="requirement_results")
    requirement = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="results")
    applicable = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=ResultStatus.choices, default=ResultStatus.NOT_ASSESSED)
    # Set when a person decided the status rather than the gap analysis computing it.
    status_overridden = models.BooleanField(default=False)
    source_assessment = models.ForeignKey(
        Assessment, null=True, blank=True, on_delete=models.SET_NULL, related_name="requirement_results"
    )
    note = models.TextField(blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "requirement"], name="unique_requirement_result")]
        indexes = [models.Index(fields=["model", "status"])]

    def __str__(self) -> str:
        return f"{self.requirement} for {self.model}: {self.get_status_display()}"
