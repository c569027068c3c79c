"""The approval page of a model version and its lifecycle actions.

Thin: the page is ``selectors.lifecycle_panel``; each action parses its form and calls one service.
A refused action (a precondition unmet, a missing reason, the version moved meanwhile) renders the
page again with the reason and status 400; a role that may not act gets 403 from the service.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from assessments.approvals import selectors, services
from governance.access import Capability, access_profile, get_model_version_for_user
from governance.models import ModelVersion


class NoteForm(forms.Form):
    note = forms.CharField(required=False, max_length=services.MAX_REASON, widget=forms.Textarea)
    role = forms.CharField(required=False, max_length=20)


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=services.MAX_REASON, widget=forms.Textarea)
    role = forms.CharField(required=False, max_length=20)
    target = forms.IntegerField(required=False, min_value=1)


def _version(request: HttpRequest, pk: int, version_pk: int) -> ModelVersion:
    version = get_model_version_for_user(request.user, pk, version_pk)
    # The checks and the panel read the owner through the model.
    return ModelVersion.objects.select_related("model", "model__owner", "model__business_unit", "created_by").get(
        pk=version.pk)


def _render(request: HttpRequest, version: ModelVersion, *, errors=(), status: int = 200) -> HttpResponse:
    context = selectors.lifecycle_panel(user=request.user, version=version)
    return render(request, "assessments/approvals/version_approval.html",
                  {**context, "errors": list(errors)}, status=status)


@require_GET
def version_approval(request: HttpRequest, pk: int, version_pk: int) -> HttpResponse:
    return _render(request, _version(request, pk, version_pk))


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [message for messages_ in error.message_dict.values() for message in messages_]
    return list(error.messages)


ACTIONS = {
    "submit": (NoteForm, lambda r, v, d: services.version_submit(actor=r.user, version=v, note=d["note"]),
               "Submitted for review."),
    "withdraw": (ReasonForm, lambda r, v, d: services.version_withdraw(actor=r.user, version=v, reason=d["reason"]),
                 "Withdrawn from review."),
    "sign-off": (NoteForm, lambda r, v, d: services.version_sign_off(actor=r.user, version=v, role=d["role"],
                                                                     note=d["note"]), "Your sign-off is recorded."),
    "reject": (ReasonForm, lambda r, v, d: services.version_reject(actor=r.user, version=v, role=d["role"],
                                                                   reason=d["reason"]),
               "Rejected: the version is back in draft."),
    "deploy": (NoteForm, lambda r, v, d: services.version_deploy(actor=r.user, version=v, note=d["note"]),
               "Marked as deployed."),
    "retire": (ReasonForm, lambda r, v, d: services.version_retire(actor=r.user, version=v, reason=d["reason"]),
               "Retired."),
    "rollback": (ReasonForm, None, "Rolled back."),
}


def _rollback(request: HttpRequest, version: ModelVersion, data: dict) -> ModelVersion:
    target = None
    if data.get("target"):
        target = ModelVersion.objects.filter(pk=data["target"], model_id=version.model_id).first()
        if target is None:
            raise ValidationError({"target": "Choose an earlier version of this model."})
    return services.version_rollback(actor=request.user, version=version, reason=data["reason"], target=target)


@require_POST
def version_lifecycle_action(request: HttpRequest, pk: int, version_pk: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404("No such action")
    version = _version(request, pk, version_pk)
    form_class, call, done = ACTIONS[action]
    form = form_class(request.POST)
    if not form.is_valid():
        return _render(request, version, errors=[f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()],
                       status=400)
    try:
        if action == "rollback":
            restored = _rollback(request, version, form.cleaned_data)
            done = f"Rolled back: {restored.version} is deployed again."
        else:
            call(request, version, form.cleaned_data)
    except ValidationError as error:
        version.refresh_from_db()
        return _render(request, version, errors=_messages(error), status=400)
    messages.success(request, done)
    return redirect(reverse("version_approval", args=[pk, version_pk]))


@require_GET
def approval_queue(request: HttpRequest) -> HttpResponse:
    """What waits for a sign-off (this user's first) and what is in production."""
    if not (access_profile(request.user).can(Capability.VIEW_INVENTORY)
            or access_profile(request.user).can(Capability.CHANGE_INVENTORY)):
        raise PermissionDenied("Your role does not give access to the inventory.")
    return render(request, "assessments/approvals/queue.html", selectors.approval_queue(user=request.user))
