"""Reads for the approval page: the lifecycle panel of one version in a fixed number of queries."""

from __future__ import annotations

from assessments.approvals import services
from assessments.approvals.checks import version_checks
from assessments.approvals.gate import gate_decision
from assessments.approvals.policy import required_roles
from assessments.models import LifecycleEvent, SignOffDecision
from governance.models import ModelVersion
from governance.models.inventory import VersionStatus

STEPS = [VersionStatus.DRAFT, VersionStatus.IN_REVIEW, VersionStatus.APPROVED, VersionStatus.DEPLOYED]


def lifecycle_panel(*, user, version: ModelVersion) -> dict:
    model = version.model
    checks = version_checks(version)
    sign_offs = services.current_sign_offs(version) if version.review_cycle else []
    by_role = {s.role: s for s in sign_offs}
    signable = set(services.signable_roles(user, version))
    roles = []
    for role in required_roles(model):
        given = by_role.get(role)
        roles.append({
            "role": role, "label": services.ROLE_LABELS.get(role, role), "sign_off": given,
            "approved": bool(given and given.decision == SignOffDecision.APPROVE),
            "can_sign": role in signable and version.status == VersionStatus.IN_REVIEW and given is None,
        })
    already_signed = any(s.signed_by_id == user.pk and s.decision == SignOffDecision.APPROVE for s in sign_offs)
    can_manage = services.can_manage_lifecycle(user, model)
    can_pull = services.can_pull_from_production(user, model)
    current = version.status
    steps = []
    reached = True
    for step in STEPS:
        steps.append({"status": step, "label": VersionStatus(step).label, "current": step == current,
                      "done": reached and step != current and current != VersionStatus.RETIRED})
        if step == current:
            reached = False
    return {
        "version": version, "model": model, "checks": checks, "unmet": services.unmet(checks),
        "roles": roles, "already_signed": already_signed,
        "steps": steps, "retired": current == VersionStatus.RETIRED,
        "can_submit": can_manage and current == VersionStatus.DRAFT,
        "can_withdraw": can_manage and current == VersionStatus.IN_REVIEW,
        "can_deploy": can_manage and current == VersionStatus.APPROVED,
        "can_retire": can_pull and current != VersionStatus.RETIRED,
        "rollback_targets": services.rollback_candidates(version) if can_pull and current == VersionStatus.DEPLOYED
        else [],
        "can_sign_any": any(role["can_sign"] for role in roles) and not already_signed,
        "registrant_is_viewer": version.created_by_id == user.pk,
        "gate": gate_decision(sha256=version.artifact_sha256, user=user),
        "events": list(LifecycleEvent.objects.filter(model_version=version).select_related("actor", "related_version")
                       .order_by("-at", "-id")[:50]),
    }
