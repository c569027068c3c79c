"""Fairness and robustness runs on the model page: their panel (polled with htmx while a run is
active) and the page that starts one.

The start page re-renders itself when the model version, the data or the kind changes (htmx swaps the
form; without JavaScript a "Show the columns" button does the same), so the column choices always
belong to the data chosen.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods

from assessments.evaluations import runs, selectors
from assessments.forms_evaluations import ModelEvaluationForm
from governance import access


@require_GET
def evaluations_panel(request: HttpRequest, pk: int) -> HttpResponse:
    model = access.get_model_for_user(request.user, pk)
    response = render(request, "assessments/evaluation_panel.html",
                      selectors.evaluations_panel(user=request.user, model=model))
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_http_methods(["GET", "POST"])
def evaluation_start(request: HttpRequest, pk: int) -> HttpResponse:
    model = access.get_model_for_user(request.user, pk, write=True)
    refresh_url = reverse("model_evaluation_start", args=[model.pk])
    if request.method == "POST" and "refresh" not in request.POST:
        form = ModelEvaluationForm(request.POST, model=model, user=request.user, refresh_url=refresh_url)
        if form.is_valid():
            try:
                run = runs.run_start(kind=form.cleaned_data["kind"], target=form.version_object, actor=request.user,
                                     options=form.options())
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                messages.success(request, f"{run.get_kind_display()} of version {run.target.version} queued.")
                return redirect("run_detail", pk=run.pk)
    else:
        # A refresh keeps what was chosen so far as the starting values, without complaining about the rest.
        source = request.POST if request.method == "POST" else request.GET
        initial = {name: source.get(name) for name in ("kind", "version", "dataset_version", "target", "prediction",
                                                        "seed", "sample_size", "min_group_size") if source.get(name)}
        if source.getlist("sensitive"):
            initial["sensitive"] = source.getlist("sensitive")
        form = ModelEvaluationForm(initial=initial, model=model, user=request.user, refresh_url=refresh_url)
    partial = request.htmx and request.method == "GET"
    template = "assessments/evaluation_form.html" if partial else "assessments/evaluation_start.html"
    response = render(request, template, {"model": model, "form": form})
    patch_vary_headers(response, ["HX-Request"])
    return response
