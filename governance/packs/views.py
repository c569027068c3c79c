"""Evidence-pack pages: ask for a pack and see the packs of one's scopes (with live progress),
download one (audited), and verify an uploaded pack (public: anyone with the link)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.access import get_model_for_user
from governance.models import BusinessUnit, EvidencePack, PackScopeKind, PackStatus
from governance.packs.forms import PackRequestForm, PackVerifyForm
from governance.packs.scope import (
    PackScope,
    check_scope,
    get_pack_for_user,
    may_work_with_packs,
    visible_packs,
)
from governance.packs.services import pack_download_record, pack_request
from governance.packs.verify import NotAPack, verify_pack

logger = logging.getLogger(__name__)
PACKS_PER_PAGE = 25


def _require_pack_role(user) -> None:
    if not may_work_with_packs(user):
        raise PermissionDenied("Evidence packs are for auditors, risk managers and admins.")


def _check_posted_scope(request: HttpRequest) -> None:
    """A model or unit posted from outside the form's choices: 404 when the user cannot see it,
    403 when they can but may not build packs of it (before the form would call it a bad choice)."""
    kind = request.POST.get("scope_kind")
    if kind == PackScopeKind.ORGANISATION:
        check_scope(request.user, PackScope(kind=kind))
    elif kind == PackScopeKind.MODEL and request.POST.get("model"):
        model = get_model_for_user(request.user, request.POST["model"])
        check_scope(request.user, PackScope(kind=kind, model=model))
    elif kind == PackScopeKind.FRAMEWORK and request.POST.get("business_unit"):
        try:
            unit = BusinessUnit.objects.get(pk=int(request.POST["business_unit"]))
        except (ValueError, BusinessUnit.DoesNotExist):
            raise Http404("No such business unit") from None
        from assessments.models import Framework

        check_scope(request.user, PackScope(kind=kind, framework=Framework(name=""), business_unit=unit))


def _pack_list_context(request: HttpRequest, form: PackRequestForm) -> dict:
    packs = (visible_packs(request.user).select_related("requested_by", "model", "framework", "business_unit")
             .order_by("scope_label", "-queued_at", "-id"))
    scope_key = request.GET.get("scope", "")
    if scope_key:
        packs = packs.filter(scope_key=scope_key)
    page = Paginator(packs, PACKS_PER_PAGE).get_page(request.GET.get("page"))
    return {"form": form, "page": page, "packs": page.object_list, "scope_key": scope_key,
            "any_active": any(pack.is_active for pack in page.object_list)}


@require_GET
def pack_list(request: HttpRequest) -> HttpResponse:
    _require_pack_role(request.user)
    form = PackRequestForm(user=request.user)
    try:  # "Build a pack of this model" links pre-select the model
        model_id = int(request.GET.get("model", ""))
    except ValueError:
        model_id = None
    if model_id and form.fields["model"].queryset.filter(pk=model_id).exists():
        form.initial.update(scope_kind=PackScopeKind.MODEL, model=model_id)
    context = _pack_list_context(request, form)
    if request.htmx and request.htmx.target == "pack-table":
        return render(request, "governance/packs/partials/pack_table.html", context)
    return render(request, "governance/packs/pack_list.html", context)


@require_POST
def pack_create(request: HttpRequest) -> HttpResponse:
    _require_pack_role(request.user)
    _check_posted_scope(request)
    form = PackRequestForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            pack = pack_request(actor=request.user, scope=form.scope(),
                                period_start=form.cleaned_data["period_start"],
                                period_end=form.cleaned_data["period_end"])
        except ValidationError as error:
            for field, problems in getattr(error, "message_dict", {"__all__": error.messages}).items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, "The evidence pack is being built. This page follows its progress.")
            return redirect("pack_detail", pack_id=pack.pack_id)
    return render(request, "governance/packs/pack_list.html", _pack_list_context(request, form), status=400)


@require_GET
def pack_detail(request: HttpRequest, pack_id) -> HttpResponse:
    pack = get_pack_for_user(request.user, pack_id)
    template = ("governance/packs/partials/pack_status.html" if request.htmx
                else "governance/packs/pack_detail.html")
    return render(request, template, {"pack": pack})


@require_GET
def pack_download(request: HttpRequest, pack_id) -> HttpResponse:
    pack = get_pack_for_user(request.user, pack_id)
    if pack.status != PackStatus.SUCCEEDED or not pack.file:
        return HttpResponse("This pack is not ready yet.", status=409, content_type="text/plain; charset=utf-8")
    try:
        handle = pack.file.storage.open(pack.file.name, "rb")
    except OSError as exc:  # missing, or refused by the encrypted storage's integrity check
        logger.error("Stored evidence pack %s could not be opened: %s", pack.pack_id, exc)
        return HttpResponse("The stored pack failed its integrity check and is not served.", status=409,
                            content_type="text/plain; charset=utf-8")
    pack_download_record(actor=request.user, pack=pack)
    response = FileResponse(handle, as_attachment=True, filename=pack.file_name, content_type="application/pdf")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
def pack_verify(request: HttpRequest) -> HttpResponse:
    """Public: anyone with the link may check a pack. The upload is hostile: its size is checked before
    it is read, it is never stored, and anything that is not a readable signed PDF gets a sentence."""
    if request.method == "GET":
        return render(request, "governance/packs/pack_verify.html", {"form": PackVerifyForm()})
    limit = settings.WARDEN_PACK_MAX_UPLOAD_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit + 64 * 1024:
        return render(request, "governance/packs/pack_verify.html",
                      {"form": PackVerifyForm(), "upload_error": "The file is too large to be a Warden evidence pack."},
                      status=413)
    form = PackVerifyForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "governance/packs/pack_verify.html", {"form": form}, status=400)
    data = form.cleaned_data["file"].read(limit + 1)
    try:
        result = verify_pack(data)
    except NotAPack as exc:
        form.add_error("file", str(exc))
        return render(request, "governance/packs/pack_verify.html", {"form": form}, status=400)
    known = EvidencePack.objects.filter(sha256=result.sha256, status=PackStatus.SUCCEEDED).exists()
    return render(request, "governance/packs/pack_verify.html",
                  {"form": PackVerifyForm(), "result": result, "known": known,
                   "file_name": form.cleaned_data["file"].name[:200]})
