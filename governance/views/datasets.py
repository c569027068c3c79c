"""Pages of the dataset inventory: list, detail (versions, schema, lineage), register, edit, upload."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from governance import access, selectors
from governance.forms import DatasetFilterForm, DatasetForm, DatasetVersionForm, apply_service_errors
from governance.lineage import lineage_svg
from governance.services import inventory as services
from governance.views.inventory import (
    file_download,
    lineage_rows,
    lineage_url,
    render_list,
    require_create_rights,
    require_inventory_access,
    upload_error,
)


def dataset_list(request: HttpRequest) -> HttpResponse:
    require_inventory_access(request.user)
    form = DatasetFilterForm(request.GET, user=request.user)
    queryset = selectors.dataset_list(user=request.user, filters=form.filters())
    return render_list(
        request,
        queryset=queryset,
        filter_form=form,
        template="governance/dataset_list.html",
        partial="governance/partials/dataset_results.html",
        context={
            "can_register": access.business_units_for(
                request.user, access.Capability.CHANGE_INVENTORY
            ).exists()
        },
    )


def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = access.get_dataset_for_user(request.user, pk)
    versions = selectors.dataset_versions_for_detail(user=request.user, dataset=dataset)
    graph = selectors.dataset_lineage(dataset=dataset, versions=versions, url_for=lineage_url)
    return render(
        request,
        "governance/dataset_detail.html",
        {
            "dataset": dataset,
            "versions": versions,
            "latest": versions[0] if versions else None,
            "can_change": access.can_change_dataset(request.user, dataset),
            "lineage_svg": lineage_svg(
                graph, title=f"Lineage of {dataset.name}: models built on each version"
            ),
            "lineage_rows": lineage_rows(graph),
            "business_unit_path": selectors.business_unit_paths([dataset.business_unit]).get(
                dataset.business_unit_id
            ),
        },
    )


def _dataset_fields(form) -> dict:
    return {
        field: form.cleaned_data[field] for field in services.DATASET_FIELDS if field in form.cleaned_data
    }


def dataset_create(request: HttpRequest) -> HttpResponse:
    require_create_rights(request.user)
    form = DatasetForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.dataset_register(
                actor=request.user, business_unit=form.cleaned_data["business_unit"], **_dataset_fields(form)
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Dataset “{dataset.name}” registered. Upload its first version next.")
            return redirect("dataset_detail", pk=dataset.pk)
    return render(request, "governance/dataset_form.html", {"form": form, "dataset": None})


def dataset_edit(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = access.get_dataset_for_user(request.user, pk, write=True)
    form = DatasetForm(request.POST or None, instance=dataset, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.dataset_update(
                actor=request.user,
                dataset=dataset,
                business_unit=form.cleaned_data["business_unit"],
                **_dataset_fields(form),
            )
        except ValidationError as error:
            dataset.refresh_from_db()
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Dataset “{dataset.name}” saved.")
            return redirect("dataset_detail", pk=dataset.pk)
    return render(request, "governance/dataset_form.html", {"form": form, "dataset": dataset})


def dataset_version_create(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = access.get_dataset_for_user(request.user, pk, write=True)
    form = DatasetVersionForm(request.POST or None, request.FILES or None, user=request.user, dataset=dataset)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = services.dataset_version_create(
                actor=request.user,
                dataset=dataset,
                version=data["version"],
                file=data["file"],
                sensitive_columns=data["sensitive_columns"],
                notes=data["notes"],
            )
        except ValidationError as error:
            upload_error(form, error, file_field="file")
        else:
            messages.success(
                request,
                f"Version {version.version} uploaded ({version.get_file_format_display()}, "
                f"{version.column_count} columns, SHA-256 {version.sha256[:12]}…).",
            )
            return redirect(reverse("dataset_detail", args=[dataset.pk]) + f"#version-{version.pk}")
    return render(request, "governance/dataset_version_form.html", {"form": form, "dataset": dataset})


def dataset_version_download(request: HttpRequest, pk: int, version_pk: int):
    version = access.get_dataset_version_for_user(request.user, pk, version_pk)
    if version.erased_at is not None:
        # The tombstone answers for the file: gone for good, and why (never a 404, which suggests a fault).
        return render(request, "governance/retention/erased_file.html", {"version": version}, status=410)
    return file_download(
        request,
        field_file=version.file,
        original_name=version.file_name,
        fallback=f"dataset-{version.dataset_id}-version-{version.pk}",
        obj=version,
        sha256=version.sha256,
    )
