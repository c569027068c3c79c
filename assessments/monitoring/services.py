"""Recording monitoring windows, measuring drift and fairness, raising alerts that open risks.

Drift is measured against the *evaluation data* of the version: the profile that the latest
successful dataset scan of its (first scanned) evaluation dataset version keeps per column (101
quantiles of a numeric column, hashed frequencies of a categorical one; see
``assessments.evaluations.dataset_scan.drift``). The same PSI functions compare the production window
with it, so a PSI on the monitoring page means exactly what it means in a dataset scan.

Ordering and idempotency: windows of a version are recorded under a lock on the version row, so two
reports racing cannot both pass the order check. A window must start at or after the end of the last
one; the same idempotency key with the same report answers with the window already recorded
(nothing counted twice), with a different report it is a conflict.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.approvals.policy import tier_policy
from assessments.evaluations.dataset_scan import drift as drift_math
from assessments.models import (
    AlertKind,
    DeliveryStatus,
    EvaluationRun,
    MonitoringAlert,
    MonitoringWindow,
    Risk,
    RiskMatrix,
    RunKind,
    RunStatus,
    TreatmentStatus,
)
from assessments.monitoring.validation import Labels, Report
from governance.models import ModelVersion
from governance.models.audit import AuditAction
from governance.models.inventory import VersionStatus
from governance.services.audit import audit_record


class Conflict(Exception):
    """The report cannot be recorded as sent (409): out of order, overlapping, or a reused key."""


class NotDeployed(Conflict):
    pass


def _sha256(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


# --- drift and fairness ---------------------------------------------------------------------------------------------

def drift_reference(version: ModelVersion) -> tuple[dict, str]:
    """The evaluation data's column profiles and a label saying where they come from."""
    scan = (EvaluationRun.objects.filter(kind=RunKind.DATASET_SCAN, status=RunStatus.SUCCEEDED,
                                         dataset_version__in=version.evaluation_datasets.all())
            .select_related("dataset_version__dataset").order_by("-finished_at", "-id").only(
                "id", "report", "dataset_version__version", "dataset_version__dataset__name").first())
    if scan is None or not isinstance(scan.report.get("profile"), dict):
        return {}, ""
    dv = scan.dataset_version
    return scan.report["profile"], f"{dv.dataset.name} {dv.version} (scan #{scan.pk})"


def _as_101_quantiles(quantiles: list[float]) -> np.ndarray:
    # Any number of equally spaced quantiles, resampled to the 101 the scan profiles keep.
    given = np.asarray(quantiles, dtype=float)
    return np.interp(drift_math.QUANTILES, np.linspace(0.0, 1.0, len(given)), given)


def feature_drift(reference: dict, features: dict) -> dict:
    """{feature: {type, psi}} for the features both sides describe the same way."""
    result = {}
    for name, stats in features.items():
        ref = reference.get(name)
        if not ref:
            continue
        if "quantiles" in stats and ref.get("type") == "numeric":
            with np.errstate(all="ignore"):
                value = drift_math.psi_from_quantiles(ref["quantiles"], _as_101_quantiles(stats["quantiles"]))
            if math.isfinite(value):  # never store NaN/inf (PostgreSQL's JSON refuses them)
                result[name] = {"type": "numeric", "psi": round(value, 4)}
        elif "counts" in stats and ref.get("type") == "categorical":
            known = ref.get("frequencies", {})
            expected = {**known, "__other__": ref.get("other", 0)}
            actual: dict[str, int] = {}
            for value, count in stats["counts"].items():
                key = drift_math.category_key(value)
                key = key if key in known else "__other__"
                actual[key] = actual.get(key, 0) + count
            result[name] = {"type": "categorical", "psi": round(drift_math.psi_categorical(expected, actual), 4)}
    return result


def group_fairness(groups: dict, *, min_count: int) -> dict:
    """Per grouping: selection rate per group and the lowest/highest ratio among groups large enough."""
    result = {}
    for grouping, members in groups.items():
        rates = {group: round(f["selected"] / f["count"], 4) for group, f in members.items() if f["count"]}
        compared = {group: rates[group] for group, f in members.items() if f["count"] >= min_count and group in rates}
        ratio = None
        if len(compared) >= 2 and max(compared.values()) > 0:
            ratio = round(min(compared.values()) / max(compared.values()), 4)
        result[grouping] = {"rates": rates, "compared": sorted(compared), "ratio": ratio}
    return result


# --- alerts ---------------------------------------------------------------------------------------------------------

def _alerts_for(window: MonitoringWindow, version: ModelVersion, thresholds: dict) -> list[dict]:
    found = []
    label = f"{version.model.name} {version.version}"
    for feature, measured in sorted(window.drift.items()):
        if measured["psi"] >= thresholds["psi"]:
            found.append({"kind": AlertKind.DRIFT, "metric": feature, "value": measured["psi"],
                          "threshold": thresholds["psi"],
                          "message": f"Input drift on “{feature}” for {label}: PSI {measured['psi']:.3f} ≥ "
                                     f"{thresholds['psi']:.2f} against the evaluation data."})
    rate = window.error_rate
    if rate is not None and rate > thresholds["error_rate_max"]:
        found.append({"kind": AlertKind.ERRORS, "metric": "error_rate", "value": round(rate, 4),
                      "threshold": thresholds["error_rate_max"],
                      "message": f"Error rate of {label} is {rate:.1%}, above {thresholds['error_rate_max']:.1%}."})
    if window.accuracy is not None:
        baseline = version.metrics.get("accuracy") if isinstance(version.metrics, dict) else None
        floor = thresholds["accuracy_min"]
        if isinstance(baseline, int | float) and not isinstance(baseline, bool):
            floor = max(floor, float(baseline) - thresholds["accuracy_drop"])
        if window.accuracy < floor:
            found.append({"kind": AlertKind.ACCURACY, "metric": "accuracy", "value": window.accuracy,
                          "threshold": round(floor, 4),
                          "message": f"Accuracy of {label} is {window.accuracy:.3f}, below {floor:.3f}"
                                     + (f" (evaluated at {baseline:.3f})." if isinstance(baseline, float) else ".")})
    for grouping, measured in sorted(window.fairness.items()):
        ratio = measured.get("ratio")
        if ratio is not None and ratio < thresholds["selection_ratio_min"]:
            found.append({"kind": AlertKind.FAIRNESS, "metric": grouping, "value": ratio,
                          "threshold": thresholds["selection_ratio_min"],
                          "message": f"Selection rates by {grouping} for {label}: lowest/highest {ratio:.2f}, below "
                                     f"{thresholds['selection_ratio_min']:.2f} (four-fifths rule)."})
    return found


def _matrix() -> RiskMatrix | None:
    return RiskMatrix.objects.filter(is_default=True).first() or RiskMatrix.objects.order_by("id").first()


def _open_risk(version: ModelVersion, alert: MonitoringAlert) -> Risk | None:
    """The register entry that triages the alert: the open one for this version, kind and metric, or a new one."""
    title = f"Production {alert.get_kind_display().lower()}: {alert.metric} ({version.version})"[:200]
    existing = (Risk.objects.filter(model_id=version.model_id, title=title)
                .exclude(treatment_status=TreatmentStatus.DONE).order_by("-id").first())
    if existing is not None:
        return existing
    matrix = _matrix()
    if matrix is None:  # no risk matrix loaded (catalogue missing): the alert itself is the finding
        return None
    likelihood = matrix.likelihood_levels[max(len(matrix.likelihood_levels) - 2, 0)]["id"]
    impact_index = len(matrix.impact_levels) // 2
    impact = matrix.impact_levels[impact_index]["id"]
    level = matrix.grid[max(len(matrix.likelihood_levels) - 2, 0)][impact_index]
    rank = [lvl["id"] for lvl in matrix.risk_levels].index(level)
    risk = Risk.objects.create(
        model_id=version.model_id, matrix=matrix, title=title, component="serving",
        lifecycle_stage="operation", description=f"Raised by production monitoring: {alert.message} Triage it: "
        "decide a treatment, or accept it with a reason.", inherent_likelihood=likelihood, inherent_impact=impact,
        inherent_level=level, inherent_rank=rank, owner=version.model.owner, created_by=version.model.owner,
    )
    audit_record(actor=None, action=AuditAction.CREATE, obj=risk,
                 changes={"source": "monitoring", "alert": alert.kind, "metric": alert.metric,
                          "model_version": version.pk})
    return risk


def _raise(window: MonitoringWindow, version: ModelVersion) -> list[MonitoringAlert]:
    thresholds = tier_policy(version.model.risk_tier)["monitoring"]
    created = []
    for found in _alerts_for(window, version, thresholds):
        if MonitoringAlert.objects.filter(window=window, kind=found["kind"], metric=found["metric"]).exists():
            continue  # labels re-sent or recomputed: the alert is already there
        alert = MonitoringAlert(model_version=version, window=window, **found)
        alert.risk = _open_risk(version, alert)
        alert.save()
        created.append(alert)
    if created:
        from assessments.monitoring.tasks import notify_monitoring_alert

        for alert in created:
            transaction.on_commit(lambda pk=alert.pk: notify_monitoring_alert.delay(pk))
    return created


# --- recording --------------------------------------------------------------------------------------------------

def _apply_labels(window: MonitoringWindow, labels: Labels, thresholds: dict) -> None:
    window.labelled_count = labels.labelled_count
    window.accuracy = labels.accuracy
    window.groups = labels.groups
    window.labels_sha256 = _sha256(labels.as_dict())
    window.labels_received_at = timezone.now()
    window.fairness = group_fairness(labels.groups, min_count=int(thresholds["min_group_count"]))
    ratios = [g["ratio"] for g in window.fairness.values() if g["ratio"] is not None]
    window.min_selection_ratio = min(ratios) if ratios else None


def _canonical_report(report: Report) -> dict:
    return {"window_start": report.window_start.isoformat(), "window_end": report.window_end.isoformat(),
            "request_count": report.request_count, "error_count": report.error_count,
            "predictions": report.predictions, "features": report.features,
            "labels": report.labels.as_dict() if report.labels else None}


def window_report(*, actor, version: ModelVersion, report: Report) -> tuple[MonitoringWindow, bool]:
    """Record one window; returns (window, created). Raises Conflict/NotDeployed for a 409."""
    body_sha = _sha256(_canonical_report(report))
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        same_key = MonitoringWindow.objects.filter(model_version=locked, idempotency_key=report.idempotency_key).first()
        if same_key is not None:
            if same_key.body_sha256 == body_sha:
                return same_key, False
            raise Conflict("This idempotency key was already used for a different report of this version.")
        if locked.status != VersionStatus.DEPLOYED:
            raise NotDeployed(f"Version {locked.version} is {locked.get_status_display().lower()}, not deployed: "
                              "only deployed versions report production windows.")
        last = MonitoringWindow.objects.filter(model_version=locked).order_by("-window_start").first()
        if last is not None and report.window_start < last.window_end:
            raise Conflict(f"Windows must arrive in order without overlapping: this one starts at "
                           f"{report.window_start.isoformat()}, before the end of the last one recorded "
                           f"({last.window_end.isoformat()}).")
        thresholds = tier_policy(locked.model.risk_tier)["monitoring"]
        reference, reference_label = drift_reference(locked)
        measured = feature_drift(reference, report.features)
        window = MonitoringWindow(
            model_version=locked, idempotency_key=report.idempotency_key, body_sha256=body_sha,
            window_start=report.window_start, window_end=report.window_end, request_count=report.request_count,
            error_count=report.error_count, predictions=report.predictions, features=report.features,
            drift=measured, max_psi=max((m["psi"] for m in measured.values()), default=None),
            drift_reference=reference_label[:200], reported_by=actor,
        )
        if report.labels is not None:
            _apply_labels(window, report.labels, thresholds)
        try:
            with transaction.atomic():
                window.save()
        except IntegrityError:
            raise Conflict("A window with this start or idempotency key was recorded a moment ago.") from None
        alerts = _raise(window, locked)
        audit_record(actor=actor, action=AuditAction.CREATE, obj=window, changes={
            "model_version": locked.pk, "idempotency_key": window.idempotency_key, "requests": window.request_count,
            "max_psi": window.max_psi, "labels": report.labels is not None, "alerts": [a.pk for a in alerts]})
    return window, True


def window_labels(*, actor, window: MonitoringWindow, labels: Labels) -> tuple[MonitoringWindow, bool]:
    """Ground truth for a recorded window, once. The same labels again change nothing; others are a conflict."""
    with transaction.atomic():
        locked = MonitoringWindow.objects.select_for_update().get(pk=window.pk)
        if locked.labels_received_at is not None:
            if locked.labels_sha256 == _sha256(labels.as_dict()):
                return locked, False
            raise Conflict("This window already has labels; they are recorded once.")
        version = ModelVersion.objects.select_related("model").get(pk=locked.model_version_id)
        _apply_labels(locked, labels, tier_policy(version.model.risk_tier)["monitoring"])
        locked.save(update_fields=["labelled_count", "accuracy", "groups", "labels_sha256", "labels_received_at",
                                   "fairness", "min_selection_ratio"])
        alerts = _raise(locked, version)
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=locked, changes={
            "labels": {"labelled_count": locked.labelled_count, "accuracy": locked.accuracy},
            "alerts": [a.pk for a in alerts]})
    return locked, True


def alert_set_status(*, actor, alert: MonitoringAlert, status: str) -> MonitoringAlert:
    before = alert.status
    alert.status = status
    alert.full_clean()
    with transaction.atomic():
        alert.save(update_fields=["status"])
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=alert, changes={"status": [before, status]})
    return alert


__all__ = ["Conflict", "DeliveryStatus", "NotDeployed", "window_labels", "window_report"]
