"""Lifecycle transitions of a model version: submit, sign off, reject, deploy, retire, roll back.

Every transition locks the version row, checks the state it expects (a second click or a concurrent
approver finds the version already moved and is refused), writes one LifecycleEvent with the
preconditions as they stood, and appends an audit entry, all in one transaction.

Who may do what:

* submit, withdraw and deploy: whoever may change the model (its unit's ML leads, object grants);
* sign off or reject: a holder of one of the roles the tier requires, on the model's business unit
  (or a unit above it), who did not register the version and has not already signed this review;
* retire and roll back: whoever may change the model, or a risk manager of its unit (pulling a model
  out of production must not wait for the ML team).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.access import can_run_assessments
from assessments.approvals import gate_cache
from assessments.approvals.checks import Check, version_checks
from assessments.approvals.policy import required_roles
from assessments.models import LifecycleAction, LifecycleEvent, SignOff, SignOffDecision
from governance.access import can_change_model
from governance.models import BusinessUnit, ModelVersion, Role, RoleGrant
from governance.models.audit import AuditAction
from governance.models.inventory import VersionStatus
from governance.services.audit import audit_record

MAX_REASON = 2000
ROLE_LABELS = dict(Role.choices)


# --- who ----------------------------------------------------------------------------------------------------------

def unit_and_ancestors(unit_id: int) -> set[int]:
    parents = dict(BusinessUnit.objects.values_list("id", "parent_id"))
    found: set[int] = set()
    current: int | None = unit_id
    while current is not None and current not in found:
        found.add(current)
        current = parents.get(current)
    return found


def roles_on_model(user, model) -> set[str]:
    """The roles ``user`` holds on ``model``'s business unit (granted there or on a unit above it)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    units = unit_and_ancestors(model.business_unit_id)
    return set(RoleGrant.objects.filter(user=user, business_unit_id__in=units).values_list("role", flat=True))


def signable_roles(user, version: ModelVersion) -> list[str]:
    """The required roles ``user`` could sign for in the current review (empty when they may not sign)."""
    if version.created_by_id == getattr(user, "pk", None):
        return []
    held = roles_on_model(user, version.model)
    return [role for role in required_roles(version.model) if role in held]


def can_manage_lifecycle(user, model) -> bool:
    return can_change_model(user, model)


def can_pull_from_production(user, model) -> bool:
    return can_change_model(user, model) or can_run_assessments(user, model)


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


# --- helpers -----------------------------------------------------------------------------------------------------

def _reason(value: str, *, required: bool, field: str = "reason") -> str:
    text = (value or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise ValidationError({field: "Say why."}, code="reason_required")
    if len(text) > MAX_REASON:
        raise ValidationError({field: f"At most {MAX_REASON} characters."}, code="reason_too_long")
    return text


def _lock(version: ModelVersion, *expected: str) -> ModelVersion:
    locked = ModelVersion.objects.select_for_update().select_related("model", "model__owner").get(pk=version.pk)
    if locked.status not in expected:
        wanted = " or ".join(VersionStatus(status).label.lower() for status in expected)
        raise ValidationError(
            f"This version is {locked.get_status_display().lower()} now, not {wanted}: someone may have acted on it "
            "a moment ago. Reload the page.", code="wrong_state")
    return locked


def _move(*, actor, version: ModelVersion, to: str, action: str, reason: str = "", checks: list[Check] | None = None,
          related: ModelVersion | None = None, now=None) -> LifecycleEvent:
    now = now or timezone.now()
    before = version.status
    ModelVersion.objects.filter(pk=version.pk).update(status=to, status_changed_at=now,
                                                      review_cycle=version.review_cycle)
    gate_cache.invalidate(version_ids=[version.pk])
    version.status, version.status_changed_at = to, now
    event = LifecycleEvent.objects.create(
        model_version=version, action=action, from_status=before, to_status=to, review_cycle=version.review_cycle,
        actor=actor if getattr(actor, "is_authenticated", False) else None, reason=reason,
        checks=[check.as_dict() for check in (checks or [])], related_version=related, at=now,
    )
    changes = {"status": [before, to], "lifecycle_action": action, "review_cycle": version.review_cycle}
    if reason:
        changes["reason"] = reason
    if related is not None:
        changes["related_version"] = related.pk
    if checks:
        changes["unmet"] = [check.code for check in checks if not check.ok]
    audit_record(actor=actor, action=AuditAction.UPDATE, obj=version, changes=changes)
    return event


def unmet(checks: list[Check]) -> list[Check]:
    return [check for check in checks if not check.ok]


def _refuse_unmet(checks: list[Check], what: str) -> None:
    missing = unmet(checks)
    if missing:
        raise ValidationError(
            [f"{what} needs every precondition met; still open: " + "; ".join(c.title for c in missing) + "."],
            code="preconditions")


def current_sign_offs(version: ModelVersion) -> list[SignOff]:
    return list(SignOff.objects.filter(model_version=version, review_cycle=version.review_cycle)
                .select_related("signed_by"))


def missing_roles(version: ModelVersion, sign_offs: list[SignOff] | None = None) -> list[str]:
    sign_offs = current_sign_offs(version) if sign_offs is None else sign_offs
    approved = {s.role for s in sign_offs
                if s.decision == SignOffDecision.APPROVE and s.signed_by_id != version.created_by_id}
    return [role for role in required_roles(version.model) if role not in approved]


# --- transitions ---------------------------------------------------------------------------------------------------

def version_submit(*, actor, version: ModelVersion, note: str = "") -> ModelVersion:
    """Draft → in review; starts a new review (earlier sign-offs no longer count)."""
    _require(can_manage_lifecycle(actor, version.model), "Only someone who may change this model submits it.")
    note = _reason(note, required=False, field="note")
    with transaction.atomic():
        locked = _lock(version, VersionStatus.DRAFT)
        locked.review_cycle += 1
        _move(actor=actor, version=locked, to=VersionStatus.IN_REVIEW, action=LifecycleAction.SUBMIT, reason=note,
              checks=version_checks(locked))
        from assessments.approvals.tasks import notify_review_requested

        transaction.on_commit(lambda: notify_review_requested.delay(locked.pk, locked.review_cycle))
    return locked


def version_withdraw(*, actor, version: ModelVersion, reason: str = "") -> ModelVersion:
    _require(can_manage_lifecycle(actor, version.model), "Only someone who may change this model withdraws it.")
    reason = _reason(reason, required=False)
    with transaction.atomic():
        locked = _lock(version, VersionStatus.IN_REVIEW)
        _move(actor=actor, version=locked, to=VersionStatus.DRAFT, action=LifecycleAction.WITHDRAW, reason=reason)
    return locked


def _signing_role(actor, locked: ModelVersion, role: str | None) -> str:
    if locked.created_by_id == actor.pk:
        raise PermissionDenied("You registered this version, so you cannot approve or reject it (four eyes).")
    roles = signable_roles(actor, locked)
    if not roles:
        raise PermissionDenied("Your roles on this model's business unit are not among those that sign off "
                               "its versions.")
    if role:
        if role not in roles:
            raise ValidationError({"role": f"You cannot sign as {ROLE_LABELS.get(role, role)} here."}, code="role")
        return role
    return roles[0]


def version_sign_off(*, actor, version: ModelVersion, role: str | None = None, note: str = "") -> ModelVersion:
    """One required role approves; the last one moves the version to approved.

    Refused while any precondition is unmet: an approval is given to a version that Warden has seen
    ready, never on trust that the rest will follow.
    """
    note = _reason(note, required=False, field="note")
    with transaction.atomic():
        locked = _lock(version, VersionStatus.IN_REVIEW)
        role = _signing_role(actor, locked, role or None)
        sign_offs = current_sign_offs(locked)
        if any(s.signed_by_id == actor.pk and s.decision == SignOffDecision.APPROVE for s in sign_offs):
            raise ValidationError("You have already signed this review; another person must sign the other roles.",
                                  code="already_signed")
        if any(s.role == role for s in sign_offs):
            raise ValidationError(f"The {ROLE_LABELS.get(role, role)} sign-off of this review is already given.",
                                  code="role_signed")
        checks = version_checks(locked)
        _refuse_unmet(checks, "Approval")
        try:
            with transaction.atomic():
                signed = SignOff.objects.create(model_version=locked, review_cycle=locked.review_cycle, role=role,
                                                decision=SignOffDecision.APPROVE, signed_by=actor, note=note)
        except IntegrityError:
            raise ValidationError("This sign-off was given a moment ago by someone else. Reload the page.",
                                  code="race") from None
        sign_offs.append(signed)
        LifecycleEvent.objects.create(
            model_version=locked, action=LifecycleAction.SIGN_OFF, from_status=locked.status, to_status=locked.status,
            review_cycle=locked.review_cycle, actor=actor, reason=note, checks=[c.as_dict() for c in checks],
        )
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=locked,
                     changes={"sign_off": role, "decision": SignOffDecision.APPROVE,
                              "review_cycle": locked.review_cycle, **({"note": note} if note else {})})
        if not missing_roles(locked, sign_offs):
            _move(actor=actor, version=locked, to=VersionStatus.APPROVED, action=LifecycleAction.APPROVE,
                  checks=checks, reason="Every required sign-off given: " + ", ".join(
                      ROLE_LABELS.get(s.role, s.role) for s in sign_offs if s.decision == SignOffDecision.APPROVE))
    return locked


def version_reject(*, actor, version: ModelVersion, reason: str, role: str | None = None) -> ModelVersion:
    """A signing role sends the version back to draft, saying why; the review's approvals lapse."""
    reason = _reason(reason, required=True)
    with transaction.atomic():
        locked = _lock(version, VersionStatus.IN_REVIEW)
        role = _signing_role(actor, locked, role or None)
        SignOff.objects.filter(model_version=locked, review_cycle=locked.review_cycle, role=role).delete()
        SignOff.objects.create(model_version=locked, review_cycle=locked.review_cycle, role=role,
                               decision=SignOffDecision.REJECT, signed_by=actor, note=reason)
        _move(actor=actor, version=locked, to=VersionStatus.DRAFT, action=LifecycleAction.REJECT,
              reason=f"Rejected as {ROLE_LABELS.get(role, role)}: {reason}", checks=version_checks(locked))
    return locked


def _deployed_sibling(locked: ModelVersion) -> ModelVersion | None:
    return (ModelVersion.objects.select_for_update().filter(model_id=locked.model_id, status=VersionStatus.DEPLOYED)
            .exclude(pk=locked.pk).order_by("-status_changed_at", "-id").first())


def version_deploy(*, actor, version: ModelVersion, note: str = "") -> ModelVersion:
    """Approved → deployed. The version deployed before it (one per model) goes back to approved, ready
    for a rollback. Refused if a precondition no longer holds: what the gate would deny is not deployed."""
    _require(can_manage_lifecycle(actor, version.model), "Only someone who may change this model deploys it.")
    note = _reason(note, required=False, field="note")
    with transaction.atomic():
        locked = _lock(version, VersionStatus.APPROVED)
        checks = version_checks(locked)
        _refuse_unmet(checks, "Deployment")
        missing = missing_roles(locked)
        if missing:
            raise ValidationError("Deployment needs the review's sign-offs; missing: "
                                  + ", ".join(ROLE_LABELS.get(r, r) for r in missing) + ".", code="sign_offs")
        previous = _deployed_sibling(locked)
        now = timezone.now()
        if previous is not None:
            _move(actor=actor, version=previous, to=VersionStatus.APPROVED, action=LifecycleAction.SUPERSEDE,
                  reason=f"Replaced in production by {locked.version}.", related=locked, now=now)
        _move(actor=actor, version=locked, to=VersionStatus.DEPLOYED, action=LifecycleAction.DEPLOY, reason=note,
              checks=checks, related=previous, now=now)
    return locked


def version_retire(*, actor, version: ModelVersion, reason: str) -> ModelVersion:
    _require(can_pull_from_production(actor, version.model),
             "Only someone who may change this model, or its risk manager, retires it.")
    reason = _reason(reason, required=True)
    with transaction.atomic():
        locked = _lock(version, VersionStatus.DRAFT, VersionStatus.IN_REVIEW, VersionStatus.APPROVED,
                       VersionStatus.DEPLOYED)
        _move(actor=actor, version=locked, to=VersionStatus.RETIRED, action=LifecycleAction.RETIRE, reason=reason)
    return locked


def rollback_candidates(version: ModelVersion) -> list[ModelVersion]:
    """Earlier versions of the model that were in production before and are still approved, newest first."""
    deployed_before = (LifecycleEvent.objects.filter(
        model_version__model_id=version.model_id,
        action__in=[LifecycleAction.DEPLOY, LifecycleAction.RESTORE]).exclude(model_version_id=version.pk)
        .values("model_version_id"))
    return list(ModelVersion.objects.filter(pk__in=deployed_before, status=VersionStatus.APPROVED)
                .order_by("-status_changed_at", "-id"))


def version_rollback(*, actor, version: ModelVersion, reason: str, target: ModelVersion | None = None) -> ModelVersion:
    """Take ``version`` out of production (retired) and deploy the earlier approved version again.

    Not held back by the preconditions: a rollback is how a bad release is undone in a hurry. The gate
    still answers for the restored version on its own merits, and the event records what stood.
    Returns the version deployed again.
    """
    _require(can_pull_from_production(actor, version.model),
             "Only someone who may change this model, or its risk manager, rolls it back.")
    reason = _reason(reason, required=True)
    with transaction.atomic():
        locked = _lock(version, VersionStatus.DEPLOYED)
        candidates = rollback_candidates(locked)
        if target is None:
            if not candidates:
                raise ValidationError("There is no earlier approved version of this model that was in production "
                                      "before; retire this version instead.", code="no_candidate")
            target = candidates[0]
        elif target.pk not in {c.pk for c in candidates}:
            raise ValidationError({"target": "Choose an earlier version that was in production and is still "
                                             "approved."}, code="bad_target")
        restored = ModelVersion.objects.select_for_update().select_related("model", "model__owner").get(pk=target.pk)
        now = timezone.now()
        _move(actor=actor, version=locked, to=VersionStatus.RETIRED, action=LifecycleAction.ROLLBACK,
              reason=reason, related=restored, now=now)
        _move(actor=actor, version=restored, to=VersionStatus.DEPLOYED, action=LifecycleAction.RESTORE,
              reason=f"Deployed again: {locked.version} was rolled back ({reason})", related=locked, now=now,
              checks=version_checks(restored))
    return restored
