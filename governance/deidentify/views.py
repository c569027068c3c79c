"""Pages of de-identified copies: the per-column form and the job's page (polled while it runs)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from governance import access
from governance.deidentify import core, services
from governance.models.data_protection import DeidentificationJob
from governance.models.inventory import DatasetVersion

ACTION_CHOICES = list(core.ACTIONS.items())
# Three fields a column, under Django's limit of 1,000 fields a request (DATA_UPLOAD_MAX_NUMBER_FIELDS).
MAX_FORM_COLUMNS = 300


class DeidentifyForm(forms.Form):
    """One action, one number and one quasi-identifier box per column, named by the column's position
    (column names are data: they never become field names)."""

    new_version = forms.CharField(label="Label of the new version", max_length=60)

    def __init__(self, *args, version: DatasetVersion, pii: dict[str, list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = version.column_names
        defaults, default_quasi = core.suggest(self.columns, pii)
        if not self.is_bound:
            self.initial.setdefault("new_version", f"{version.version}-deidentified"[:60])
        self.rows = []
        for index, column in enumerate(self.columns):
            rule = defaults[column]
            self.fields[f"action_{index}"] = forms.ChoiceField(
                label=f"Action for {column}", choices=ACTION_CHOICES, initial=rule.action)
            self.fields[f"param_{index}"] = forms.IntegerField(
                label=f"Number for {column}", required=False, initial=rule.param, min_value=0, max_value=1_000_000,
                help_text="Characters kept (mask), band width (band) or prefix length (prefix).")
            self.fields[f"quasi_{index}"] = forms.BooleanField(
                label=f"{column} is a quasi-identifier", required=False, initial=column in default_quasi)
            self.rows.append({
                "column": column, "kinds": pii.get(column, []), "action": self[f"action_{index}"],
                "param": self[f"param_{index}"], "quasi": self[f"quasi_{index}"],
                "direct": bool(set(pii.get(column, ())) & core.DIRECT_IDENTIFIERS),
            })

    def rules(self) -> tuple[dict, list[str]]:
        data = self.cleaned_data
        rules = {column: {"action": data[f"action_{index}"], "param": data.get(f"param_{index}")}
                 for index, column in enumerate(self.columns)}
        quasi = [column for index, column in enumerate(self.columns) if data.get(f"quasi_{index}")]
        return rules, quasi

    def add_service_errors(self, error: ValidationError) -> None:
        positions = {column: index for index, column in enumerate(self.columns)}
        for field, errors in (error.error_dict.items() if hasattr(error, "error_dict") else [("__all__", [error])]):
            if field in positions:
                target = f"action_{positions[field]}"
            else:
                target = field if field in self.fields else None
            for item in errors:
                self.add_error(target, item)


def deidentify_form(request: HttpRequest, pk: int, version_pk: int) -> HttpResponse:
    version = access.get_dataset_version_for_user(request.user, pk, version_pk, write=True)
    if version.erased_at is not None:
        return render(request, "governance/deidentify/form.html",
                      {"version": version, "dataset": version.dataset, "form": None}, status=410)
    if len(version.column_names) > MAX_FORM_COLUMNS:
        messages.error(request, f"This version has {len(version.column_names):,} columns; the form handles at most "
                                f"{MAX_FORM_COLUMNS}. Drop the columns you do not need first and upload that version.")
        return render(request, "governance/deidentify/form.html",
                      {"version": version, "dataset": version.dataset, "form": None, "too_wide": True}, status=400)
    pii, scan = services.personal_data_columns(version)
    form = DeidentifyForm(request.POST or None, version=version, pii=pii)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            rules, quasi = form.rules()
            try:
                job = services.deidentify_request(actor=request.user, version=version,
                                                  new_version=form.cleaned_data["new_version"], rules=rules,
                                                  quasi_identifiers=quasi)
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                messages.success(request, f"Making a de-identified copy of version {version.version} as "
                                          f"{job.new_version}.")
                return redirect("deidentify_job", pk=job.pk)
    return render(request, "governance/deidentify/form.html", {
        "version": version, "dataset": version.dataset, "form": form, "scan": scan,
        "flagged": sorted(pii),
    }, status=status)


def _job_for_user(user, pk) -> DeidentificationJob:
    job = DeidentificationJob.objects.select_related(
        "source_version__dataset", "result_version", "created_by").filter(pk=pk).first()
    if job is None or not access.visible_datasets(user).filter(pk=job.source_version.dataset_id).exists():
        raise Http404("No such de-identification job")
    return job


def deidentify_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request.user, pk)
    context = {"job": job, "version": job.source_version, "dataset": job.source_version.dataset,
               "can_change": access.can_change_dataset(request.user, job.source_version.dataset),
               "rules": [(column, spec) for column, spec in job.rules.items()],
               "action_labels": core.ACTIONS}
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        return render(request, "governance/deidentify/job_status.html", context)
    return render(request, "governance/deidentify/job.html", context)


@require_POST
def deidentify_job_requeue(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request.user, pk)
    if not access.can_change_dataset(request.user, job.source_version.dataset):
        raise PermissionDenied("You may not start work on this dataset.")
    try:
        services.deidentify_requeue(actor=request.user, job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Sent to the workers again.")
    return redirect("deidentify_job", pk=job.pk)
