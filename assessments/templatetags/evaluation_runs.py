"""The runs panel on the model and dataset pages, and the badges runs and findings wear.

``{% include "assessments/partials/runs_panel.html" with target=model %}`` on a detail page renders
``{% runs_panel target %}``, which gathers what the panel needs itself (so the inventory views need
no change) and is also what the panel's htmx polling endpoint renders.
"""

from django import template

from assessments.evaluations import selectors

register = template.Library()

STATUS_BADGES = {
    "queued": "badge-pending", "running": "badge-pending badge-running", "succeeded": "badge-ok",
    "failed": "badge-fail", "cancelled": "badge-plain",
}
SEVERITY_BADGES = {
    "critical": "badge-fail", "high": "badge-fail", "medium": "badge-warn", "low": "badge-info", "info": "badge-plain",
}
SEVERITIES = ("critical", "high", "medium", "low", "info")


def panel_context(request, parent) -> dict:
    return {**selectors.panel(user=request.user, parent=parent), "request": request}


@register.inclusion_tag("assessments/run_panel.html", takes_context=True)
def runs_panel(context, target):
    request = context["request"]
    return {**panel_context(request, target), "csrf_token": context.get("csrf_token")}


@register.filter
def status_badge(status: str) -> str:
    return STATUS_BADGES.get(status, "badge-plain")


@register.filter
def severity_badge(severity: str) -> str:
    return SEVERITY_BADGES.get(severity, "badge-plain")


@register.filter
def severity_counts(summary: dict) -> list[tuple[str, int]]:
    """The non-zero severity counts of a run's summary, worst first."""
    counts = (summary or {}).get("counts") or {}
    return [(severity, counts[severity]) for severity in SEVERITIES if counts.get(severity)]


# --- fairness and robustness results ---------------------------------------------------------------------------

VERDICT_BADGES = {"pass": "badge-ok", "warn": "badge-warn", "fail": "badge-fail", "undefined": "badge-warn"}


@register.filter
def verdict_badge(verdict: str) -> str:
    return VERDICT_BADGES.get(verdict, "badge-plain")


@register.simple_tag
def fairness_chart(report: dict, grouping: int = 0, metric: str = "selection_rate"):
    """A per-group bar chart with its threshold line, as inline SVG (drawn and escaped by charts.py)."""
    from django.utils.safestring import mark_safe

    from assessments.evaluations.charts import fairness_chart_svg

    if not report or not report.get("groupings"):
        return ""
    return mark_safe(fairness_chart_svg(report, grouping=grouping, metric=metric))  # noqa: S308 - escaped in charts.py


@register.simple_tag
def robustness_chart(report: dict):
    from django.utils.safestring import mark_safe

    from assessments.evaluations.charts import robustness_curve_svg

    if not report or not report.get("curve"):
        return ""
    return mark_safe(robustness_curve_svg(report))  # noqa: S308 - escaped in charts.py


@register.filter
def metric_label(name: str, report: dict) -> str:
    """The readable name of a graded metric, as the result's thresholds call it."""
    return ((report or {}).get("thresholds", {}).get(name) or {}).get("label") or name.replace("_", " ").capitalize()


@register.inclusion_tag("assessments/evaluation_panel.html", takes_context=True)
def evaluations_panel(context, model):
    """The fairness and robustness panel of a model page (also what its htmx polling renders)."""
    return {**selectors.evaluations_panel(user=context["request"].user, model=model), "request": context["request"]}
