"""The landing page: what needs my attention, per role."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from governance import access
from governance.access import Capability
from governance.models import AuditEntry, DatasetVersion, Invitation, ModelVersion, Role
from governance.models.inventory import ProfileStatus, RiskTier, VersionStatus


def _card(title: str, count: int, url: str, description: str, tone: str) -> dict:
    return {"title": title, "count": count, "url": url, "description": description, "tone": tone}


def _inventory_cards(user) -> list[dict]:
    models = access.visible_models(user)
    model_list = reverse("model_list")
    high = models.filter(risk_tier__in=[RiskTier.HIGH, RiskTier.PROHIBITED]).count()
    in_review = ModelVersion.objects.filter(model__in=models, status=VersionStatus.IN_REVIEW).count()
    failed = DatasetVersion.objects.filter(
        dataset__in=access.visible_datasets(user), profile_status=ProfileStatus.FAILED
    ).count()
    return [
        _card("Models", models.count(), model_list, "Models you can see", "info"),
        _card("High-risk models", high, f"{model_list}?risk_tier=high", "EU AI Act high-risk or prohibited",
              "warn" if high else "ok"),
        _card("Models I own", models.filter(owner=user).count(), f"{model_list}?owner=me",
              "Registered with you as owner", "info"),
        _card("Versions in review", in_review, model_list, "Waiting for a decision", "warn" if in_review else "ok"),
        _card("Dataset files that failed profiling", failed, reverse("dataset_list"), "Need a corrected upload",
              "fail" if failed else "ok"),
    ]


def _admin_cards() -> list[dict]:
    open_invitations = Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).count()
    without_role = get_user_model().objects.filter(is_active=True, role_grants__isnull=True, is_superuser=False).count()
    return [
        _card("Open invitations", open_invitations, reverse("people_invite"), "Sent, not yet accepted", "info"),
        _card("People without a role", without_role, reverse("people_list"), "Can sign in but see nothing",
              "warn" if without_role else "ok"),
    ]


def _audit_cards() -> list[dict]:
    since = timezone.now() - timedelta(days=1)
    failed_logins = AuditEntry.objects.filter(action="login_failed", at__gte=since).count()
    return [_card("Failed logins (24 h)", failed_logins, f"{reverse('audit_list')}?action=login_failed",
                  "Repeated failures lock the account", "warn" if failed_logins else "ok")]


def _data_protection_cards(user) -> list[dict]:
    from governance.models.data_protection import OPEN_REQUEST_STATUSES, ErasureRequest
    from governance.retention import selectors as retention

    units = retention.officer_unit_ids(user)
    due = retention.versions_past_retention().filter(dataset__business_unit_id__in=units).count()
    requests = ErasureRequest.objects.filter(business_unit_id__in=units, status__in=OPEN_REQUEST_STATUSES)
    open_count = requests.count()
    overdue = requests.filter(due_at__lt=timezone.localdate()).count()
    return [
        _card("Versions past retention", due, reverse("data_protection"), "To erase, or to keep for a reason",
              "warn" if due else "ok"),
        _card("Open erasure requests", open_count, reverse("erasure_request_list"),
              f"{overdue} past the one-month deadline" if overdue else "Answer within one month",
              "fail" if overdue else ("warn" if open_count else "ok")),
    ]


def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    profile = access.access_profile(user)
    cards = []
    if profile.can(Capability.VIEW_INVENTORY) or profile.can(Capability.CHANGE_INVENTORY):
        cards += _inventory_cards(user)
    if profile.can(Capability.MANAGE_DATA_PROTECTION):
        cards += _data_protection_cards(user)
    if profile.can(Capability.MANAGE_USERS):
        cards += _admin_cards()
    if profile.can(Capability.VIEW_AUDIT):
        cards += _audit_cards()
        recent = AuditEntry.objects.all()
    else:
        recent = AuditEntry.objects.filter(Q(actor=user))
    return render(request, "governance/dashboard.html", {
        "cards": cards,
        "recent_activity": list(recent.order_by("-id")[:10]),
        "roles": sorted(Role(role).label for role in profile.roles),
    })


def health(request: HttpRequest) -> JsonResponse:
    """For load balancers: answers without a login, touches the database, reveals nothing."""
    connection.ensure_connection()
    return JsonResponse({"status": "ok"})
