"""Pages of retention and erasure: the officers' overview, erasing a version, erasure requests."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from governance import access
from governance.access import Capability
from governance.forms import apply_service_errors
from governance.models.data_protection import ErasureRequestStatus
from governance.retention import forms, selectors, services


def overview(request: HttpRequest) -> HttpResponse:
    selectors.require_officer(request.user)
    return render(request, "governance/retention/overview.html", selectors.overview(user=request.user))


def _erase_context(request, version, form, erasure_request=None) -> dict:
    dataset = version.dataset
    return {
        "version": version, "dataset": dataset, "form": form, "erasure_request": erasure_request,
        "due_at": selectors.retention_due_at(version), "now": timezone.now(),
        "trained": version.trained_versions.select_related("model"),
        "evaluated": version.evaluated_versions.select_related("model"),
        "copies": version.deidentified_copies.filter(result_version__isnull=False).select_related("result_version"),
    }


def version_erase(request: HttpRequest, pk: int, version_pk: int) -> HttpResponse:
    version = access.get_dataset_version_for_user(request.user, pk, version_pk)
    if not services.can_erase(request.user, version.dataset):
        raise PermissionDenied("Only a data-protection officer of this dataset's business unit may erase it.")
    erasure_request = None
    request_id = request.POST.get("request") or request.GET.get("request")
    if request_id:
        erasure_request = selectors.get_erasure_request_for_user(request.user, request_id, write=True)
    initial = {"reason": f"Erasure request {erasure_request.reference_code} (GDPR Art. 17)."} if erasure_request else {}
    form = forms.EraseForm(request.POST or None, initial=initial)
    if version.erased_at is not None:
        status = 409 if request.method == "POST" else 200
        return render(request, "governance/retention/erase.html", _erase_context(request, version, None), status=status)
    if request.method == "POST" and form.is_valid():
        try:
            services.dataset_version_erase(actor=request.user, version=version, reason=form.cleaned_data["reason"],
                                           request=erasure_request)
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Version {version.version} of {version.dataset.name} was erased: its file is "
                                      f"destroyed and its record kept as a tombstone.")
            if erasure_request is not None:
                return redirect("erasure_request_detail", pk=erasure_request.pk)
            return redirect(reverse("dataset_detail", args=[version.dataset_id]) + "#data-protection")
    return render(request, "governance/retention/erase.html", _erase_context(request, version, form, erasure_request))


def version_hold(request: HttpRequest, pk: int, version_pk: int) -> HttpResponse:
    version = access.get_dataset_version_for_user(request.user, pk, version_pk)
    if not services.can_erase(request.user, version.dataset):
        raise PermissionDenied("Only a data-protection officer of this dataset's business unit may decide this.")
    form = forms.HoldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.retention_hold(actor=request.user, version=version, until=form.cleaned_data["until"],
                                    reason=form.cleaned_data["reason"])
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Version {version.version} of {version.dataset.name} is kept until "
                                      f"{form.cleaned_data['until']:%d %b %Y}.")
            return redirect("data_protection")
    return render(request, "governance/retention/hold.html", {"version": version, "dataset": version.dataset,
                                                                "form": form,
                                                                "due_at": selectors.retention_due_at(version)},
                  status=400 if form.errors else 200)


# --- erasure requests --------------------------------------------------------------------------------------------

STATUS_FILTERS = [("open", "Open"), *ErasureRequestStatus.choices, ("", "All")]


def erasure_request_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    if status not in {value for value, _ in STATUS_FILTERS}:
        status = "open"
    profile = access.access_profile(request.user)
    if not (profile.can(Capability.MANAGE_DATA_PROTECTION) or profile.can(Capability.VIEW_AUDIT)):
        raise PermissionDenied("Only data-protection officers and auditors may open this page.")
    queryset = selectors.erasure_request_list(user=request.user, status=status)
    return render(request, "governance/retention/request_list.html", {
        "requests": list(queryset[:200]), "status": status, "status_filters": STATUS_FILTERS,
        "may_create": bool(selectors.officer_unit_ids(request.user)),
    })


def erasure_request_create(request: HttpRequest) -> HttpResponse:
    selectors.require_officer(request.user)
    form = forms.ErasureRequestForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.erasure_request_create(
                actor=request.user, business_unit=data["business_unit"], subject_reference=data["subject_reference"],
                subject_details=data["subject_details"], received_at=data["received_at"],
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Erasure request {created.reference_code} recorded; answer by "
                                      f"{created.due_at:%d %b %Y}.")
            return redirect("erasure_request_detail", pk=created.pk)
    return render(request, "governance/retention/request_form.html", {"form": form})


def _request_page(request, erasure_request, *, add_form=None, close_form=None, not_held_forms=None, status=200):
    may_handle = selectors.can_handle_request(request.user, erasure_request)
    items = list(erasure_request.items.select_related("version", "version__dataset", "resolved_by", "added_by"))
    for item in items:
        # Each row's own form, with ids of its own so that labels point at the right box.
        item.not_held_form = (not_held_forms or {}).get(item.pk) or forms.NotHeldForm(auto_id=f"id_nh{item.pk}_%s")
    context = {
        "erasure_request": erasure_request, "items": items, "may_handle": may_handle,
        "add_form": add_form or (forms.AddVersionForm(user=request.user) if may_handle else None),
        "close_form": close_form or (forms.CloseRequestForm() if may_handle else None),
        "not_held_forms": not_held_forms or {},
        "open_items": sum(1 for item in items if item.status == "open"),
    }
    return render(request, "governance/retention/request_detail.html", context, status=status)


def erasure_request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    erasure_request = selectors.get_erasure_request_for_user(request.user, pk)
    return _request_page(request, erasure_request)


@require_POST
def erasure_request_add_version(request: HttpRequest, pk: int) -> HttpResponse:
    erasure_request = selectors.get_erasure_request_for_user(request.user, pk, write=True)
    form = forms.AddVersionForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            services.erasure_request_add_version(actor=request.user, request=erasure_request,
                                                 version=form.cleaned_data["version"], note=form.cleaned_data["note"])
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, "Version added to the request.")
            return redirect("erasure_request_detail", pk=erasure_request.pk)
    return _request_page(request, erasure_request, add_form=form, status=400)


@require_POST
def erasure_item_not_held(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    erasure_request = selectors.get_erasure_request_for_user(request.user, pk, write=True)
    item = erasure_request.items.filter(pk=item_pk).select_related("request").first()
    if item is None:
        return _request_page(request, erasure_request, status=404)
    form = forms.NotHeldForm(request.POST, auto_id=f"id_nh{item.pk}_%s")
    if form.is_valid():
        try:
            services.erasure_item_mark_not_held(actor=request.user, item=item, note=form.cleaned_data["note"])
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Recorded: the subject is not in {item.version}.")
            return redirect("erasure_request_detail", pk=erasure_request.pk)
    return _request_page(request, erasure_request, not_held_forms={item.pk: form}, status=400)


@require_POST
def erasure_request_close(request: HttpRequest, pk: int) -> HttpResponse:
    erasure_request = selectors.get_erasure_request_for_user(request.user, pk, write=True)
    form = forms.CloseRequestForm(request.POST)
    if form.is_valid():
        try:
            services.erasure_request_close(actor=request.user, request=erasure_request,
                                           status=form.cleaned_data["status"], outcome=form.cleaned_data["outcome"])
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"{erasure_request.reference_code} closed as "
                                      f"{erasure_request.get_status_display().lower()}.")
            return redirect("erasure_request_detail", pk=erasure_request.pk)
    return _request_page(request, erasure_request, close_form=form, status=400)
