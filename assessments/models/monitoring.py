"""Production monitoring: the windows that serving systems report, and the alerts they raise.

A window is what one serving system saw for one deployed model version over one period: request
counts, the distribution of predictions, summary statistics of the input features and, once the
ground truth is known (often days later, so it is added to the window separately), accuracy and the
selection rate of each group. Warden stores what was reported and what it computed from it (drift
against the evaluation data, fairness) so that charts never recompute history.

Windows of one version never overlap and arrive in order; the serving system names each one with an
idempotency key, so a retried report is recorded once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class MonitoringWindow(models.Model):
    model_version = models.ForeignKey(
        "governance.ModelVersion", on_delete=models.PROTECT, related_name="monitoring_windows"
    )
    idempotency_key = models.CharField(max_length=200)
    # SHA-256 of the canonical report: the same key with a different report is a conflict, not a retry.
    body_sha256 = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    request_count = models.BigIntegerField()
    error_count = models.BigIntegerField(default=0)
    predictions = models.JSONField(default=dict, blank=True)
    features = models.JSONField(default=dict, blank=True)
    # Ground truth, when it arrives.
    labelled_count = models.BigIntegerField(null=True, blank=True)
    accuracy = models.FloatField(null=True, blank=True)
    groups = models.JSONField(default=dict, blank=True, help_text="{grouping: {group: {count, selected}}}")
    labels_sha256 = models.CharField(max_length=64, blank=True)
    labels_received_at = models.DateTimeField(null=True, blank=True)
    # Computed by Warden.
    drift = models.JSONField(default=dict, blank=True, help_text="{feature: {type, psi}} against the evaluation data")
    max_psi = models.FloatField(null=True, blank=True)
    drift_reference = models.CharField(max_length=200, blank=True, help_text="what the drift was measured against")
    fairness = models.JSONField(default=dict, blank=True, help_text="{grouping: {rates, ratio}}")
    min_selection_ratio = models.FloatField(null=True, blank=True)
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["window_start", "id"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "idempotency_key"], name="unique_window_key"),
            models.UniqueConstraint(fields=["model_version", "window_start"], name="unique_window_start"),
            models.CheckConstraint(condition=Q(window_end__gt=F("window_start")), name="window_ends_after_start"),
            models.CheckConstraint(condition=Q(request_count__gte=0) & Q(error_count__gte=0)
                                   & Q(error_count__lte=F("request_count")), name="window_counts_sane"),
        ]
        indexes = [models.Index(fields=["model_version", "-window_start"])]

    def __str__(self) -> str:
        return f"Window {self.window_start:%Y-%m-%d %H:%M}–{self.window_end:%H:%M} of {self.model_version_id}"

    @property
    def error_rate(self) -> float | None:
        return self.error_count / self.request_count if self.request_count else None


class AlertKind(models.TextChoices):
    DRIFT = "drift", "Input drift"
    ACCURACY = "accuracy", "Accuracy drop"
    FAIRNESS = "fairness", "Selection-rate disparity"
    ERRORS = "errors", "Error rate"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    NOT_CONFIGURED = "not_configured", "Not configured"


class MonitoringAlert(models.Model):
    model_version = models.ForeignKey("governance.ModelVersion", on_delete=models.PROTECT, related_name="+")
    window = models.ForeignKey(MonitoringWindow, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=10, choices=AlertKind.choices)
    metric = models.CharField(max_length=200, help_text="the feature, grouping or figure that crossed its threshold")
    value = models.FloatField()
    threshold = models.FloatField()
    message = models.CharField(max_length=500)
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    # The register entry that triages it (one open risk per version, kind and metric; later alerts join it).
    risk = models.ForeignKey("assessments.Risk", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="monitoring_alerts")
    email_status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    webhook_status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    webhook_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["window", "kind", "metric"], name="one_alert_per_window_metric"),
        ]
        indexes = [models.Index(fields=["model_version", "status"])]

    def __str__(self) -> str:
        return self.message
