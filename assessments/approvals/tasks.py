"""Celery task: tell the people who sign a review that a version waits for them (takes the version's id).

Registered with workers through ``assessments.tasks`` (which imports this module).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from assessments.approvals.policy import required_roles
from assessments.approvals.services import ROLE_LABELS, unit_and_ancestors
from governance.models import ModelVersion, RoleGrant
from governance.models.inventory import VersionStatus


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_review_requested(version_id: int, review_cycle: int) -> int:
    version = ModelVersion.objects.select_related("model", "created_by").filter(pk=version_id).first()
    # A version withdrawn or already decided before this ran needs nobody's attention any more.
    if version is None or version.status != VersionStatus.IN_REVIEW or version.review_cycle != review_cycle:
        return 0
    roles = required_roles(version.model)
    units = unit_and_ancestors(version.model.business_unit_id)
    grants = (RoleGrant.objects.filter(role__in=roles, business_unit_id__in=units, user__is_active=True)
              .exclude(user_id=version.created_by_id).values_list("user__email", "role"))
    by_email: dict[str, set[str]] = {}
    for email, role in grants:
        if email:
            by_email.setdefault(email, set()).add(ROLE_LABELS.get(role, role))
    url = settings.WARDEN_BASE_URL.rstrip("/") + reverse("version_approval", args=[version.model_id, version.pk])
    for email, labels in sorted(by_email.items()):
        send_mail(
            subject=f"[Warden] {version.model.name} {version.version} waits for your sign-off"[:200],
            message=(f"{version.created_by.get_full_name() or version.created_by.get_username()} submitted "
                     f"{version.model.name} {version.version} ({version.model.get_risk_tier_display().lower()} risk) "
                     f"for review. It needs a sign-off as {', '.join(sorted(labels)).lower()}.\n\n"
                     f"Review it: {url}\n"),
            from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[email],
        )
    return len(by_email)
