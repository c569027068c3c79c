"""Who must take what, by when: requirements, staff profiles, assignments, waivers, the nightly sync."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from assessments.approvals import gate_cache
from governance.access import Capability, _descendants_by_unit, access_profile
from governance.models import BusinessUnit, RoleGrant
from governance.models.audit import AuditAction
from governance.services.audit import audit_record, field_changes
from training.access import require_manage_person
from training.models import (
    OPEN_STATUSES,
    Assignment,
    AssignmentReason,
    AssignmentStatus,
    Completion,
    CompletionKind,
    Module,
    StaffProfile,
    TrainingRequirement,
)

User = get_user_model()
# A new assignment is made this many days before a completion expires (or is due again), so that
# people can recertify before their certificate lapses.
RECERTIFY_LEAD_DAYS = getattr(settings, "WARDEN_TRAINING_RECERTIFY_LEAD_DAYS", 30)
MAX_WAIVER_DAYS = 3 * 365
SYNC_CHUNK = 2000
# Arbitrary constant naming the PostgreSQL advisory lock that serialises assignment syncs.
SYNC_LOCK_KEY = 727_105


# --- staff profiles --------------------------------------------------------------------------------

PROFILE_FIELDS = ("department", "manager", "job_title", "hire_date", "phi_access", "cardholder_data_access",
                  "personal_data_access")


def _require_manage_unit(actor, unit: BusinessUnit | None) -> None:
    profile = access_profile(actor)
    if unit is None:
        if not profile.can(Capability.MANAGE_TRAINING):
            raise PermissionDenied("Your role does not let you manage training.")
    elif not profile.can(Capability.MANAGE_TRAINING, unit.pk):
        raise PermissionDenied(f"You do not manage training in {unit}.")


def _profile_values(profile: StaffProfile) -> dict:
    return {
        "department": profile.department_id, "manager": profile.manager_id, "job_title": profile.job_title,
        "hire_date": profile.hire_date.isoformat() if profile.hire_date else None,
        "phi_access": profile.phi_access, "cardholder_data_access": profile.cardholder_data_access,
        "personal_data_access": profile.personal_data_access,
    }


def staff_profile_save(*, actor, user, department: BusinessUnit, manager=None, job_title: str = "",
                       hire_date: date | None = None, phi_access: bool = False, cardholder_data_access: bool = False,
                       personal_data_access: bool = False, audit: bool = True) -> tuple[StaffProfile, dict]:
    """Create or update a person's profile. Returns the profile and the changes made ({} if none).

    The actor must manage training in the new department and, when the person moves, in the old one.
    """
    _require_manage_unit(actor, department)
    if manager is not None and manager.pk == user.pk:
        raise ValidationError({"manager": "Nobody can be their own manager."})
    with transaction.atomic():
        profile = StaffProfile.objects.select_for_update().filter(user=user).first()
        created = profile is None
        if created:
            profile = StaffProfile(user=user)
        elif profile.department_id and profile.department_id != department.pk:
            if not access_profile(actor).can(Capability.MANAGE_TRAINING, profile.department_id):
                raise PermissionDenied("You do not manage training in this person's current department.")
        before = {} if created else _profile_values(profile)
        profile.department, profile.manager, profile.job_title = department, manager, (job_title or "").strip()
        profile.hire_date, profile.phi_access = hire_date, bool(phi_access)
        profile.cardholder_data_access, profile.personal_data_access = bool(cardholder_data_access), bool(
            personal_data_access)
        profile.full_clean()
        changes = field_changes(before, _profile_values(profile))
        if changes or created:
            profile.save()
            if audit:
                audit_record(actor=actor, action=AuditAction.CREATE if created else AuditAction.UPDATE, obj=profile,
                             changes=changes)
    return profile, changes


# --- requirements ----------------------------------------------------------------------------------

REQUIREMENT_FIELDS = ("module", "business_unit", "role", "requires_phi_access", "requires_cardholder_data_access",
                      "requires_personal_data_access", "due_within_days", "recur_every_days", "is_active")


def _requirement_values(requirement: TrainingRequirement) -> dict:
    return {
        "module": requirement.module_id, "business_unit": requirement.business_unit_id, "role": requirement.role,
        "requires_phi_access": requirement.requires_phi_access,
        "requires_cardholder_data_access": requirement.requires_cardholder_data_access,
        "requires_personal_data_access": requirement.requires_personal_data_access,
        "due_within_days": requirement.due_within_days, "recur_every_days": requirement.recur_every_days,
        "is_active": requirement.is_active,
    }


def requirement_save(*, actor, requirement: TrainingRequirement | None = None, **values) -> TrainingRequirement:
    unknown = set(values) - set(REQUIREMENT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}")
    if requirement is not None:
        _require_manage_unit(actor, requirement.business_unit)
    _require_manage_unit(actor, values.get("business_unit") or (requirement.business_unit if requirement else None))
    with transaction.atomic():
        created = requirement is None
        if created:
            requirement = TrainingRequirement(created_by=actor)
        before = {} if created else _requirement_values(requirement)
        for name, value in values.items():
            setattr(requirement, name, value)
        requirement.full_clean()
        requirement.save()
        audit_record(actor=actor, action=AuditAction.CREATE if created else AuditAction.UPDATE, obj=requirement,
                     changes=field_changes(before, _requirement_values(requirement)))
    return requirement


# --- the sync --------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    people: int = 0
    created: int = 0
    recertifications: int = 0
    overdue: int = 0
    created_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"people": self.people, "created": self.created, "recertifications": self.recertifications,
                "overdue": self.overdue}


@dataclass(frozen=True)
class _Need:
    requirement_id: int
    due_within_days: int
    recur_every_days: int | None


def _applicable(requirements, units_of_requirement, person_units, person_roles, flags) -> dict[int, _Need]:
    """module id -> the strictest need among the requirements that match this person."""
    needs: dict[int, _Need] = {}
    for requirement in requirements:
        if not person_units & units_of_requirement[requirement.pk]:
            continue
        if requirement.role and requirement.role not in person_roles:
            continue
        if requirement.requires_phi_access and not flags[0]:
            continue
        if requirement.requires_cardholder_data_access and not flags[1]:
            continue
        if requirement.requires_personal_data_access and not flags[2]:
            continue
        known = needs.get(requirement.module_id)
        if known is None:
            needs[requirement.module_id] = _Need(requirement.pk, requirement.due_within_days,
                                                 requirement.recur_every_days)
        else:
            recur = [r for r in (known.recur_every_days, requirement.recur_every_days) if r]
            needs[requirement.module_id] = _Need(
                known.requirement_id if known.due_within_days <= requirement.due_within_days else requirement.pk,
                min(known.due_within_days, requirement.due_within_days), min(recur) if recur else None,
            )
    return needs


def first_due_date(*, today: date, hire_date: date | None, due_within_days: int) -> date:
    """Due N days after hire for someone hired within the last N days, else N days from today."""
    window = timedelta(days=due_within_days)
    if hire_date and hire_date <= today and hire_date + window >= today:
        return hire_date + window
    if hire_date and hire_date > today:
        return hire_date + window
    return today + window


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SYNC_LOCK_KEY])


def _sync_chunk(user_ids: list[int], *, requirements, units_of_requirement, modules: dict[int, Module],
                today: date, report: SyncReport) -> list[Assignment]:
    profiles = {
        row[0]: row[1:] for row in StaffProfile.objects.filter(user_id__in=user_ids).values_list(
            "user_id", "department_id", "hire_date", "phi_access", "cardholder_data_access", "personal_data_access")
    }
    grants: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for user_id, role, unit_id in RoleGrant.objects.filter(user_id__in=user_ids).values_list(
            "user_id", "role", "business_unit_id"):
        grants[user_id].append((role, unit_id))
    current = {
        (row["user_id"], row["module_id"]): row
        for row in Assignment.objects.filter(user_id__in=user_ids, is_current=True).values(
            "id", "user_id", "module_id", "status", "waived_until")
    }
    # The latest completion in force per person and module (not superseded, not a revocation).
    latest: dict[tuple[int, int], tuple] = {}
    for user_id, module_id, completed_at, expires_at in (
        Completion.objects.filter(user_id__in=user_ids, superseded_by__isnull=True)
        .exclude(kind=CompletionKind.REVOCATION)
        .order_by("user_id", "module_id", "completed_at")
        .values_list("user_id", "module_id", "completed_at", "expires_at")
    ):
        latest[(user_id, module_id)] = (completed_at, expires_at)

    now = timezone.now()
    lead = timedelta(days=RECERTIFY_LEAD_DAYS)
    new: list[Assignment] = []
    replaced: list[int] = []
    for user_id in user_ids:
        profile = profiles.get(user_id)
        person_roles = {role for role, _ in grants.get(user_id, [])}
        if profile is not None:
            person_units = {profile[0]} if profile[0] else set()
            hire_date, flags = profile[1], profile[2:]
        else:
            person_units = {unit for _, unit in grants.get(user_id, [])}
            hire_date, flags = None, (False, False, False)
        if not person_units:
            continue
        for module_id, need in _applicable(requirements, units_of_requirement, person_units, person_roles,
                                           flags).items():
            row = current.get((user_id, module_id))
            if row and row["status"] in OPEN_STATUSES:
                continue
            # What covers the person now: a completion not yet due again, or a waiver.
            covers = []
            done = latest.get((user_id, module_id))
            if done:
                completed_at, expires_at = done
                next_due = timezone.localdate(expires_at)
                if need.recur_every_days:
                    next_due = min(next_due, timezone.localdate(completed_at) + timedelta(days=need.recur_every_days))
                covers.append(next_due)
            if row and row["status"] == AssignmentStatus.WAIVED and row["waived_until"]:
                covers.append(row["waived_until"])
            if covers:
                next_due = max(covers)
                if next_due - lead > today:
                    continue
                reason = AssignmentReason.RECERTIFICATION
                due = next_due if next_due > today else today + timedelta(days=need.due_within_days)
            else:
                reason = AssignmentReason.REQUIREMENT
                due = first_due_date(today=today, hire_date=hire_date, due_within_days=need.due_within_days)
            if row:
                replaced.append(row["id"])
            module = modules[module_id]
            new.append(Assignment(
                user_id=user_id, module_id=module_id, module_version=module.version, requirement_id=need.requirement_id,
                reason=reason, assigned_at=now, due_date=due,
                status=AssignmentStatus.OVERDUE if due < today else AssignmentStatus.ASSIGNED,
            ))
            report.recertifications += reason == AssignmentReason.RECERTIFICATION
    if replaced:
        Assignment.objects.filter(pk__in=replaced).update(is_current=False)
    created = Assignment.objects.bulk_create(new, batch_size=1000)
    report.created += len(created)
    report.created_ids.extend(a.pk for a in created if a.pk)
    return created


def training_assignments_sync(*, user=None, user_ids: list[int] | None = None, today: date | None = None,
                              actor=None) -> SyncReport:
    """Make the assignments that the active requirements call for, and mark late ones overdue.

    Idempotent: a person with a current open assignment, a waiver or a completion that is not due
    again within the recertification lead time gets nothing new. Runs for one person (``user``), a
    list (``user_ids``) or everybody (the nightly job).
    """
    today = today or timezone.localdate()
    report = SyncReport()
    requirements = list(TrainingRequirement.objects.filter(is_active=True, module__is_active=True))
    modules = {m.pk: m for m in Module.objects.filter(pk__in={r.module_id for r in requirements})}
    descendants = _descendants_by_unit() if requirements else {}
    units_of_requirement = {r.pk: descendants.get(r.business_unit_id, {r.business_unit_id}) for r in requirements}

    people = User.objects.filter(is_active=True)
    if user is not None:
        people = people.filter(pk=user.pk)
    elif user_ids is not None:
        people = people.filter(pk__in=list(user_ids))
    ids = list(people.order_by("pk").values_list("pk", flat=True))
    report.people = len(ids)

    for start in range(0, len(ids), SYNC_CHUNK):
        chunk = ids[start:start + SYNC_CHUNK]
        with transaction.atomic():
            _lock()
            created = []
            if requirements:
                created = _sync_chunk(chunk, requirements=requirements, units_of_requirement=units_of_requirement,
                                      modules=modules, today=today, report=report)
            late = Assignment.objects.filter(
                user_id__in=chunk, is_current=True, status__in=[AssignmentStatus.ASSIGNED,
                                                                AssignmentStatus.IN_PROGRESS],
                due_date__lt=today,
            ).update(status=AssignmentStatus.OVERDUE)
            report.overdue += late
            if created or late:
                # Queryset updates send no signals: the gate's cached answers read the owners' training.
                gate_cache.invalidate(owner_ids=chunk)
                # One entry per batch: the rows themselves say who got what.
                audit_record(actor=actor, action=AuditAction.CREATE, object_type="training.Assignment",
                             object_repr="Training assignments sync", changes={
                                 "created": len(created), "marked_overdue": late, "people": len(chunk),
                                 "assignment_ids": [a.pk for a in created][:200],
                             })
    return report


# --- one assignment --------------------------------------------------------------------------------


def assignment_assign(*, actor, user, module: Module, due_date: date) -> Assignment:
    """A training manager assigns a module to someone by hand."""
    require_manage_person(actor, user)
    if due_date < timezone.localdate():
        raise ValidationError({"due_date": "The due date cannot be in the past."})
    return _assignment_create(actor=actor, user=user, module=module, due_date=due_date,
                              reason=AssignmentReason.MANUAL)


def assignment_enrol(*, user, module: Module) -> Assignment:
    """Anyone may take any active module of their own accord."""
    return _assignment_create(actor=user, user=user, module=module,
                              due_date=timezone.localdate() + timedelta(days=30), reason=AssignmentReason.SELF)


def _assignment_create(*, actor, user, module: Module, due_date: date, reason: str) -> Assignment:
    if not module.is_active:
        raise ValidationError("This module is not offered any more.")
    with transaction.atomic():
        _lock()
        current = Assignment.objects.select_for_update().filter(user=user, module=module, is_current=True).first()
        if current and current.is_open:
            raise ValidationError(f"{user.get_full_name() or user.get_username()} already has this module to do "
                                  f"(due {current.due_date:%d %b %Y}).", code="already_assigned")
        if current and current.status == AssignmentStatus.COMPLETED and current.completion and (
                current.completion.expires_at > timezone.now() + timedelta(days=RECERTIFY_LEAD_DAYS)):
            raise ValidationError(
                f"The current certificate is valid until {current.completion.expires_at:%d %b %Y}.", code="valid")
        if current:
            current.is_current = False
            current.save(update_fields=["is_current"])
        assignment = Assignment(
            user=user, module=module, module_version=module.version, reason=reason, assigned_at=timezone.now(),
            assigned_by=actor if reason == AssignmentReason.MANUAL else None, due_date=due_date,
        )
        assignment.full_clean()
        assignment.save()
        audit_record(actor=actor, action=AuditAction.CREATE, obj=assignment, changes={
            "user": user.get_username(), "module": module.slug, "version": module.version,
            "due_date": due_date, "reason": reason})
    return assignment


def assignment_waive(*, actor, assignment: Assignment, reason: str, until: date) -> Assignment:
    """Excuse someone from an assignment until a date, with the approver and the reason on record."""
    require_manage_person(actor, assignment.user)
    reason = (reason or "").strip()
    today = timezone.localdate()
    errors = {}
    if len(reason) < 10:
        errors["reason"] = "Give the reason for the waiver (at least a short sentence)."
    if until is None or until <= today:
        errors["until"] = "The waiver must last until a future date."
    elif until > today + timedelta(days=MAX_WAIVER_DAYS):
        errors["until"] = "A waiver may last three years at most."
    if errors:
        raise ValidationError(errors)
    if assignment.user_id == actor.pk:
        raise PermissionDenied("Nobody may waive their own training.")
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if not assignment.is_open:
            raise ValidationError("Only an assignment that is still to do can be waived.")
        before = assignment.status
        assignment.status = AssignmentStatus.WAIVED
        assignment.waived_by, assignment.waived_at = actor, timezone.now()
        assignment.waiver_reason, assignment.waived_until = reason, until
        assignment.full_clean()
        assignment.save()
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=assignment, changes={
            "status": [before, AssignmentStatus.WAIVED], "reason": reason, "until": until})
    return assignment


def assignment_grant_attempts(*, actor, assignment: Assignment, extra: int = 1) -> Assignment:
    """Allow more quiz attempts to someone who has used them all."""
    require_manage_person(actor, assignment.user)
    if not 1 <= extra <= 5:
        raise ValidationError("Grant between one and five more attempts.")
    with transaction.atomic():
        assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if not assignment.is_open:
            raise ValidationError("Only an assignment that is still to do can get more attempts.")
        assignment.extra_attempts += extra
        assignment.save(update_fields=["extra_attempts"])
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=assignment,
                     changes={"extra_attempts": [assignment.extra_attempts - extra, assignment.extra_attempts]})
    return assignment


def open_assignments_q() -> Q:
    return Q(is_current=True, status__in=OPEN_STATUSES, user__is_active=True)
