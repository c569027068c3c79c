"""Pages of evaluation runs: the runs panel (polled with htmx while a run is active), a run's details,
downloads of its JSON and SARIF, and the start / cancel / re-run actions.

Actions answer htmx with the refreshed panel (or run details) and everyone else with a redirect,
so the buttons work without JavaScript too.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from assessments.evaluations import reports, runs, selectors
from assessments.evaluations.access import can_change_run, get_run_for_user
from assessments.models import RunKind
from assessments.templatetags.evaluation_runs import panel_context
from governance import access
from governance.views.inventory import download_name


def _parent(request: HttpRequest, kind: str, pk: int, *, write: bool = False):
    if kind == "model":
        return access.get_model_for_user(request.user, pk, write=write)
    if kind == "dataset":
        return access.get_dataset_for_user(request.user, pk, write=write)
    raise Http404("No such page")


def _parent_url(parent) -> str:
    name = "model_detail" if parent.__class__.__name__ == "MLModel" else "dataset_detail"
    return reverse(name, args=[parent.pk]) + "#runs"


def _render_panel(request: HttpRequest, parent) -> HttpResponse:
    response = render(request, "assessments/run_panel.html", panel_context(request, parent))
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def run_panel(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    return _render_panel(request, _parent(request, kind, pk))


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)


def _after_action(request: HttpRequest, run, parent) -> HttpResponse:
    if request.htmx:
        if request.POST.get("from") == "detail":
            return _render_detail(request, run)
        return _render_panel(request, parent)
    return _back(request, reverse("run_detail", args=[run.pk]))


@require_POST
def run_start(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    parent = _parent(request, kind, pk, write=True)
    version_id = request.POST.get("version")
    versions = parent.versions.all()
    version = (versions.filter(pk=version_id).first() if version_id and version_id.isdigit()
               else versions.order_by("-created_at", "-id").first())
    if version is None:
        raise Http404("No such version")
    scan_kind = RunKind.ARTIFACT_SCAN if kind == "model" else RunKind.DATASET_SCAN
    options = None
    if kind == "dataset" and request.POST.get("label_column"):
        options = {"label_column": request.POST["label_column"][:200]}
    run = runs.run_start(kind=scan_kind, target=version, actor=request.user, options=options)
    if not request.htmx:
        messages.success(request, f"{run.get_kind_display()} of version {version.version} queued.")
    return _after_action(request, run, parent)


@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run_for_user(request.user, pk, write=True)
    try:
        run = runs.run_cancel(actor=request.user, run=run)
    except ValidationError as error:
        if not request.htmx:
            messages.warning(request, " ".join(error.messages))
    else:
        if not request.htmx:
            messages.success(request, f"Run {run.pk} cancelled.")
    return _after_action(request, run, runs.target_parent(run.target))


@require_POST
def run_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run_for_user(request.user, pk, write=True)
    try:
        new_run = runs.run_rerun(actor=request.user, run=run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("run_detail", pk=run.pk)
    if not request.htmx:
        messages.success(request, f"{new_run.get_kind_display()} queued again.")
    return _after_action(request, new_run, runs.target_parent(run.target))


def _detail_context(request: HttpRequest, run) -> dict:
    parent = runs.target_parent(run.target)
    return {"run": run, "parent": parent, "parent_url": _parent_url(parent),
            "can_change": can_change_run(request.user, run), **selectors.run_detail(run)}


def _render_detail(request: HttpRequest, run) -> HttpResponse:
    template = "assessments/run_body.html" if request.htmx else "assessments/run_detail.html"
    response = render(request, template, _detail_context(request, run))
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, get_run_for_user(request.user, pk))


@require_GET
def run_report(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    run = get_run_for_user(request.user, pk)
    if fmt == "json":
        document, suffix, media_type = reports.run_document(run), "json", "application/json"
    elif fmt == "sarif":
        document, suffix, media_type = reports.run_sarif(run), "sarif", "application/sarif+json"
    else:
        raise Http404("No such format")
    name = download_name(f"run-{run.pk}-{run.kind}.{suffix}", f"run-{run.pk}.{suffix}")
    response = HttpResponse(json.dumps(document, indent=2, ensure_ascii=False, default=str),
                            content_type=f"{media_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response



CHART_METRICS = ("selection_rate", "accuracy", "tpr", "fpr", "precision", "fnr", "mae", "rmse", "mean_prediction")


@require_GET
def run_chart(request: HttpRequest, pk: int) -> HttpResponse:
    """A fairness or robustness chart as an SVG file, for reports and slides (the page shows the same)."""
    from assessments.evaluations.charts import fairness_chart_svg, robustness_curve_svg
    from assessments.models import RunStatus

    run = get_run_for_user(request.user, pk)
    if run.status != RunStatus.SUCCEEDED or run.kind not in (RunKind.FAIRNESS, RunKind.ROBUSTNESS):
        raise Http404("This run has no chart")
    if run.kind == RunKind.ROBUSTNESS:
        svg, name = robustness_curve_svg(run.report), f"run-{run.pk}-robustness.svg"
    else:
        grouping, metric = request.GET.get("grouping", "0"), request.GET.get("metric", "selection_rate")
        groupings = run.report.get("groupings") or []
        if not grouping.isdigit() or int(grouping) >= len(groupings) or metric not in CHART_METRICS:
            raise Http404("No such chart")
        svg, name = (fairness_chart_svg(run.report, grouping=int(grouping), metric=metric),
                     f"run-{run.pk}-{metric}-{grouping}.svg")
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    # Opened on its own, the file may do nothing but be drawn.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
