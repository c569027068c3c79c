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


QUEUE_LIMIT = 100


def _roles_by_unit(user) -> dict[int, set[str]]:
    """Unit id → the roles ``user`` holds there, granted on it or on a unit above it (two queries)."""
    from governance.models import BusinessUnit, RoleGrant

    grants = list(RoleGrant.objects.filter(user=user).values_list("role", "business_unit_id"))
    if not grants:
        return {}
    parents = dict(BusinessUnit.objects.values_list("id", "parent_id"))
    result: dict[int, set[str]] = {}
    for unit in parents:
        chain, current = set(), unit
        while current is not None and current not in chain:
            chain.add(current)
            current = parents.get(current)
        roles = {role for role, granted_unit in grants if granted_unit in chain}
        if roles:
            result[unit] = roles
    return result


def approval_queue(*, user) -> dict:
    """Versions in review (those waiting for this user first) and versions in production, for the queue page."""
    from django.db.models import Count, Prefetch

    from assessments.models import AlertStatus, MonitoringAlert, SignOff
    from governance.access import visible_models

    visible = ModelVersion.objects.filter(model__in=visible_models(user)).select_related(
        "model", "model__business_unit", "created_by")
    in_review = list(visible.filter(status=VersionStatus.IN_REVIEW).order_by("status_changed_at", "id")
                     .prefetch_related(Prefetch("sign_offs", queryset=SignOff.objects.select_related("signed_by")))
                     [:QUEUE_LIMIT])
    roles_by_unit = _roles_by_unit(user)
    waiting_for_me, others = [], []
    for version in in_review:
        current = [s for s in version.sign_offs.all() if s.review_cycle == version.review_cycle]
        signed = {s.role for s in current if s.decision == SignOffDecision.APPROVE}
        missing = [role for role in required_roles(version.model) if role not in signed]
        mine = [] if version.created_by_id == user.pk or any(
            s.signed_by_id == user.pk and s.decision == SignOffDecision.APPROVE for s in current) else [
            role for role in missing if role in roles_by_unit.get(version.model.business_unit_id, set())]
        row = {"version": version, "signed": [s for s in current if s.decision == SignOffDecision.APPROVE],
               "missing": [services.ROLE_LABELS.get(role, role) for role in missing],
               "mine": [services.ROLE_LABELS.get(role, role) for role in mine]}
        (waiting_for_me if mine else others).append(row)
    deployed = list(visible.filter(status=VersionStatus.DEPLOYED).order_by("model__name", "id")[:QUEUE_LIMIT])
    open_alerts = dict(MonitoringAlert.objects.filter(model_version__in=[v.pk for v in deployed],
                                                      status=AlertStatus.OPEN)
                       .values_list("model_version").annotate(n=Count("id")).values_list("model_version", "n"))
    return {
        "waiting_for_me": waiting_for_me, "in_review": others,
        "deployed": [{"version": v, "open_alerts": open_alerts.get(v.pk, 0)} for v in deployed],
        "limit": QUEUE_LIMIT,
    }
