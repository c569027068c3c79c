"""The monitoring page of a model version (charts, alerts, windows) and the alert status action."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from assessments.access import can_run_assessments
from assessments.approvals.policy import tier_policy
from assessments.models import AlertStatus, MonitoringAlert, MonitoringWindow
from assessments.monitoring import services
from assessments.monitoring.charts import line_chart_svg
from governance.access import can_change_model, get_model_version_for_user, visible_models

CHART_WINDOWS = 60
TOP_FEATURES = 5


def _charts(windows: list[MonitoringWindow], thresholds: dict) -> list[dict]:
    if not windows:
        return []
    labels = [w.window_start.strftime("%d %b %H:%M") for w in windows]
    charts = []
    peak: dict[str, float] = {}
    for w in windows:
        for feature, measured in w.drift.items():
            peak[feature] = max(peak.get(feature, 0.0), measured["psi"])
    features = sorted(peak, key=lambda name: (-peak[name], name))[:TOP_FEATURES]
    if features:
        charts.append({"title": "Input drift (PSI against the evaluation data)", "svg": line_chart_svg(
            title="Input drift per feature (PSI)", x_labels=labels,
            series=[(f, [w.drift.get(f, {}).get("psi") for w in windows]) for f in features],
            threshold=thresholds["psi"], threshold_label="alert at PSI")})
    if any(w.accuracy is not None for w in windows):
        charts.append({"title": "Accuracy on labelled traffic", "svg": line_chart_svg(
            title="Accuracy over time", x_labels=labels, series=[("Accuracy", [w.accuracy for w in windows])],
            y_max=1.0, percent=True)})
    groupings = sorted({g for w in windows for g, m in w.fairness.items() if m.get("ratio") is not None})
    if groupings:
        charts.append({"title": "Fairness over time (lowest / highest group selection rate)", "svg": line_chart_svg(
            title="Selection-rate ratio per grouping", x_labels=labels,
            series=[(g, [w.fairness.get(g, {}).get("ratio") for w in windows]) for g in groupings],
            threshold=thresholds["selection_ratio_min"], threshold_label="four-fifths rule", y_max=1.0)})
    shares = _prediction_shares(windows)
    if shares:
        charts.append({"title": "Predictions over time (share of each predicted class)", "svg": line_chart_svg(
            title="Share of each predicted class", x_labels=labels, series=shares, y_max=1.0, percent=True)})
    elif any("quantiles" in w.predictions for w in windows):
        charts.append({"title": "Predicted scores over time (median and the middle half)", "svg": line_chart_svg(
            title="Predicted score quartiles", x_labels=labels, series=[
                (name, [_score_quantile(w, q) for w in windows])
                for name, q in (("Lower quartile", 0.25), ("Median", 0.5), ("Upper quartile", 0.75))],
            y_min=min((v for w in windows for v in w.predictions.get("quantiles", [])), default=0.0))})
    charts.append({"title": "Traffic", "svg": line_chart_svg(
        title="Requests and errors per window", x_labels=labels,
        series=[("Requests", [float(w.request_count) for w in windows]),
                ("Errors", [float(w.error_count) for w in windows])])})
    return charts


def _prediction_shares(windows: list[MonitoringWindow]) -> list[tuple[str, list[float | None]]]:
    """Per predicted class (the five most frequent overall), its share of each window's predictions."""
    totals: dict[str, int] = {}
    for w in windows:
        for label, count in w.predictions.get("counts", {}).items():
            totals[label] = totals.get(label, 0) + count
    top = sorted(totals, key=lambda label: (-totals[label], label))[:TOP_FEATURES]
    series = []
    for label in top:
        values = []
        for w in windows:
            counts = w.predictions.get("counts")
            total = sum(counts.values()) if counts else 0
            values.append(counts.get(label, 0) / total if total else None)
        series.append((label, values))
    return series


def _score_quantile(window: MonitoringWindow, q: float) -> float | None:
    quantiles = window.predictions.get("quantiles")
    if not quantiles:
        return None
    position = q * (len(quantiles) - 1)
    low = int(position)
    high = min(low + 1, len(quantiles) - 1)
    return quantiles[low] + (quantiles[high] - quantiles[low]) * (position - low)


@require_GET
def version_monitoring(request: HttpRequest, pk: int, version_pk: int) -> HttpResponse:
    version = get_model_version_for_user(request.user, pk, version_pk)
    model = version.model
    thresholds = tier_policy(model.risk_tier)["monitoring"]
    recent = list(MonitoringWindow.objects.filter(model_version=version).order_by("-window_start")[:CHART_WINDOWS])
    windows = list(reversed(recent))
    alerts = list(MonitoringAlert.objects.filter(model_version=version).select_related("risk", "window")
                  .order_by("-created_at", "-id")[:50])
    _, reference = services.drift_reference(version)
    return render(request, "assessments/monitoring/version_monitoring.html", {
        "model": model, "version": version, "windows": recent[:20], "window_count": len(recent),
        "latest": recent[0] if recent else None, "charts": _charts(windows, thresholds), "alerts": alerts,
        "open_alerts": sum(1 for a in alerts if a.status == AlertStatus.OPEN), "thresholds": thresholds,
        "reference": reference, "can_triage": can_change_model(request.user, model)
        or can_run_assessments(request.user, model),
        "api_url": request.build_absolute_uri(reverse("api_monitoring_windows", args=[version.pk])),
    })


@require_POST
def alert_status(request: HttpRequest, pk: int) -> HttpResponse:
    alert = (MonitoringAlert.objects.filter(pk=pk, model_version__model__in=visible_models(request.user))
             .select_related("model_version__model").first())
    if alert is None:
        raise Http404("No such alert")
    model = alert.model_version.model
    if not (can_change_model(request.user, model) or can_run_assessments(request.user, model)):
        raise PermissionDenied("Your role does not triage alerts of this model.")
    wanted = request.POST.get("status", "")
    if wanted not in AlertStatus.values:
        messages.error(request, "Choose open, acknowledged or resolved.")
    else:
        services.alert_set_status(actor=request.user, alert=alert, status=wanted)
        messages.success(request, f"Alert marked {AlertStatus(wanted).label.lower()}.")
    return redirect(reverse("version_monitoring", args=[model.pk, alert.model_version_id]) + "#alerts")
