"""Approvals of model versions: the lifecycle history and the sign-offs of each review.

A version's current state is ``ModelVersion.status`` (draft, in review, approved, deployed, retired);
this module keeps how it got there. Every transition is one ``LifecycleEvent`` row (who, when, why, and
the preconditions as Warden saw them at that moment), never edited afterwards. A review is numbered
(``ModelVersion.review_cycle``): sign-offs belong to one review, so a version that is rejected and
submitted again needs fresh sign-offs.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class LifecycleAction(models.TextChoices):
    SUBMIT = "submit", "Submitted for review"
    WITHDRAW = "withdraw", "Withdrawn from review"
    SIGN_OFF = "sign_off", "Signed off"
    REJECT = "reject", "Rejected"
    APPROVE = "approve", "Approved"
    DEPLOY = "deploy", "Deployed"
    SUPERSEDE = "supersede", "Replaced in production"
    RETIRE = "retire", "Retired"
    ROLLBACK = "rollback", "Rolled back"
    RESTORE = "restore", "Deployed again by a rollback"


class LifecycleEvent(models.Model):
    model_version = models.ForeignKey(
        "governance.ModelVersion", on_delete=models.CASCADE, related_name="lifecycle_events"
    )
    action = models.CharField(max_length=12, choices=LifecycleAction.choices)
    from_status = models.CharField(max_length=12)
    to_status = models.CharField(max_length=12)
    review_cycle = models.PositiveIntegerField(default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)
    # The preconditions as they stood when the transition was made (what the approver saw).
    checks = models.JSONField(default=list, blank=True)
    # For a rollback: the version deployed again (on the rolled-back version's event) or the version
    # it replaced (on the restored version's event); for a deployment, the version it superseded.
    related_version = models.ForeignKey(
        "governance.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["model_version", "-at"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.model_version_id} {self.from_status}→{self.to_status}"


class SignOffDecision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class SignOff(models.Model):
    """One required role's decision in one review of one version."""

    model_version = models.ForeignKey("governance.ModelVersion", on_delete=models.CASCADE, related_name="sign_offs")
    review_cycle = models.PositiveIntegerField()
    role = models.CharField(max_length=20)
    decision = models.CharField(max_length=8, choices=SignOffDecision.choices)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "review_cycle", "role"], name="one_sign_off_per_role"),
            # Four eyes across roles too: one person cannot fill two required roles of the same review.
            models.UniqueConstraint(
                fields=["model_version", "review_cycle", "signed_by"], condition=Q(decision="approve"),
                name="one_approval_per_person_per_review",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} as {self.role} by {self.signed_by_id}"
