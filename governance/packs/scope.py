"""What a pack is about, and who may build and read packs of it.

Three kinds of scope: one model (with the datasets behind its versions), a framework for a business
unit (every model of the unit and the units below it, as the requester may see them), or the whole
organisation. Packs are for people who audit or manage risk: auditors, risk managers and admins,
each only where their roles reach; an auditor granted a single model (a django-guardian grant) may
build packs of that model and of nothing else.

Outsiders get 404 (the scope is not confirmed to exist); people who may see the scope but whose
role does not include audit work get 403.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404

from governance import access
from governance.access import Capability, access_profile
from governance.models import BusinessUnit, MLModel, MLModelUserObjectPermission, Role
from governance.models.packs import PackScopeKind
from governance.selectors import business_unit_paths, unit_and_descendant_ids

# The roles whose work packs are for (grants of other roles never open a pack).
PACK_CAPABILITIES = (Capability.VIEW_AUDIT, Capability.RUN_ASSESSMENTS)
PACK_ROLES = frozenset({Role.ADMIN, Role.RISK_MANAGER, Role.AUDITOR})
MAX_PERIOD_DAYS = 366 * 10


@dataclass
class PackScope:
    kind: str
    model: MLModel | None = None
    framework: object | None = None  # assessments.Framework
    business_unit: BusinessUnit | None = None

    @property
    def key(self) -> str:
        if self.kind == PackScopeKind.MODEL:
            return f"model:{self.model.pk}"
        if self.kind == PackScopeKind.FRAMEWORK:
            unit = f"@unit:{self.business_unit.pk}" if self.business_unit else "@org"
            return f"framework:{self.framework.urn}{unit}"
        return "org"

    @property
    def label(self) -> str:
        if self.kind == PackScopeKind.MODEL:
            return f"Model “{self.model.name}” and its datasets"
        if self.kind == PackScopeKind.FRAMEWORK:
            where = business_unit_paths().get(self.business_unit.pk, self.business_unit.name) if self.business_unit \
                else "the whole organisation"
            return f"{self.framework.name} for {where}"
        return "The whole organisation"

    def model_queryset(self, user) -> QuerySet[MLModel]:
        """The models the pack covers, as ``user`` may see them (every model for a system-built pack)."""
        models = access.visible_models(user) if user is not None else MLModel.objects.all()
        if self.kind == PackScopeKind.MODEL:
            return models.filter(pk=self.model.pk)
        if self.business_unit is not None:
            return models.filter(business_unit_id__in=unit_and_descendant_ids(self.business_unit.pk))
        return models

    def unit_ids(self) -> set[int] | None:
        """The business units whose own evidence and people count (None: every unit)."""
        if self.kind == PackScopeKind.MODEL:
            return {self.model.business_unit_id}
        if self.business_unit is not None:
            return unit_and_descendant_ids(self.business_unit.pk)
        return None


def pack_units(user) -> frozenset[int]:
    """Business units where ``user``'s roles include audit or risk work."""
    profile = access_profile(user)
    units: frozenset[int] = frozenset()
    for capability in PACK_CAPABILITIES:
        units |= profile.unit_ids(capability)
    return units


def _granted_model_ids(user) -> QuerySet:
    return MLModelUserObjectPermission.objects.filter(
        user=user, permission__codename__in=["view_mlmodel", "change_mlmodel"]).values("content_object_id")


def may_work_with_packs(user) -> bool:
    """Whether the user's roles include pack work anywhere (the menu entry and the pages)."""
    if not user.is_authenticated:
        return False
    profile = access_profile(user)
    return profile.is_superuser or bool(pack_units(user)) or bool(profile.roles & PACK_ROLES)


def may_build_org(user) -> bool:
    profile = access_profile(user)
    if profile.is_superuser:
        return True
    every = set(BusinessUnit.objects.values_list("pk", flat=True))
    return bool(every) and every <= set(pack_units(user))


def check_scope(user, scope: PackScope) -> None:
    """404 when the user may not see the scope, 403 when they may see it but not build packs of it."""
    if user is None:  # a system-built pack (the build_pack command)
        return
    profile = access_profile(user)
    if scope.kind == PackScopeKind.MODEL:
        model = access.get_model_for_user(user, scope.model.pk)  # 404 for outsiders
        if profile.is_superuser or model.business_unit_id in pack_units(user):
            return
        if Role.AUDITOR in profile.roles and _granted_model_ids(user).filter(content_object_id=model.pk).exists():
            return
        raise PermissionDenied("Your role does not include building evidence packs of this model.")
    if scope.kind == PackScopeKind.FRAMEWORK and scope.business_unit is not None:
        if profile.is_superuser or scope.business_unit.pk in pack_units(user):
            return
        visible_units = profile.unit_ids(Capability.VIEW_INVENTORY) | profile.unit_ids(Capability.CHANGE_INVENTORY)
        if scope.business_unit.pk in visible_units:
            raise PermissionDenied("Your role does not include building evidence packs for this business unit.")
        raise Http404("No such business unit")
    if not may_build_org(user):
        raise PermissionDenied("Only people whose audit or risk role covers every business unit may build "
                               "packs of the whole organisation.")


def buildable_models(user) -> QuerySet[MLModel]:
    """Models the user may build packs of: visible ones in their pack units, and (auditors) those granted."""
    profile = access_profile(user)
    models = access.visible_models(user)
    if profile.is_superuser:
        return models
    from django.db.models import Q

    condition = Q(business_unit_id__in=pack_units(user))
    if Role.AUDITOR in profile.roles:
        condition |= Q(pk__in=_granted_model_ids(user))
    return models.filter(condition)


def buildable_units(user) -> QuerySet[BusinessUnit]:
    profile = access_profile(user)
    if profile.is_superuser:
        return BusinessUnit.objects.all()
    return BusinessUnit.objects.filter(pk__in=pack_units(user))


def check_period(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise ValidationError({"period_end": "The period must end on or after its first day."}, code="bad_period")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationError({"period_start": "A pack covers at most ten years."}, code="long_period")


def parse_scope(spec: str) -> PackScope:
    """The command line's scope: ``model:ID``, ``framework:CODE`` (or ``framework:CODE@unit:ID``), ``org``.

    CODE is a framework's reference id (``GDPR``) or URN. Raises ValueError with a readable message.
    """
    from assessments.models import Framework

    spec = (spec or "").strip()
    if spec == "org":
        return PackScope(kind=PackScopeKind.ORGANISATION)
    kind, _, rest = spec.partition(":")
    if kind == "model":
        try:
            return PackScope(kind=PackScopeKind.MODEL, model=MLModel.objects.get(pk=int(rest)))
        except (ValueError, MLModel.DoesNotExist):
            raise ValueError(f"no model with id {rest!r}") from None
    if kind == "framework":
        code, _, unit_part = rest.partition("@")
        framework = (Framework.objects.filter(urn=code).first()
                     or Framework.objects.filter(ref_id__iexact=code, is_deprecated=False).first())
        if framework is None:
            raise ValueError(f"no framework {code!r} (use its reference id, e.g. GDPR, or its URN)")
        unit = None
        if unit_part:
            unit_kind, _, unit_id = unit_part.partition(":")
            try:
                if unit_kind != "unit":
                    raise ValueError
                unit = BusinessUnit.objects.get(pk=int(unit_id))
            except (ValueError, BusinessUnit.DoesNotExist):
                raise ValueError(f"no business unit {unit_part!r} (write framework:CODE@unit:ID)") from None
        return PackScope(kind=PackScopeKind.FRAMEWORK, framework=framework, business_unit=unit)
    raise ValueError("the scope must be model:ID, framework:CODE, framework:CODE@unit:ID or org")


def scope_of(pack) -> PackScope:
    return PackScope(kind=pack.scope_kind, model=pack.model, framework=pack.framework,
                     business_unit=pack.business_unit)


def visible_packs(user) -> QuerySet:
    """Packs the user may list and download: those of scopes they may build packs of."""
    from django.db.models import Q

    from governance.models import EvidencePack

    if not may_work_with_packs(user):
        return EvidencePack.objects.none()
    condition = Q(scope_kind=PackScopeKind.MODEL, model__in=buildable_models(user))
    condition |= Q(scope_kind=PackScopeKind.FRAMEWORK, business_unit__in=buildable_units(user))
    if may_build_org(user):
        condition |= Q(scope_kind=PackScopeKind.ORGANISATION) | Q(scope_kind=PackScopeKind.FRAMEWORK,
                                                                   business_unit__isnull=True)
    return EvidencePack.objects.filter(condition)


def get_pack_for_user(user, pack_id):
    """The pack with this public id: 404 unless the user may see its scope, 403 when they may see the
    scope but their role does not include packs."""
    from governance.models import EvidencePack

    try:
        pack = EvidencePack.objects.select_related("model", "framework", "business_unit", "requested_by",
                                                   "previous_pack").get(pack_id=pack_id)
    except (EvidencePack.DoesNotExist, ValueError, ValidationError):
        raise Http404("No such evidence pack") from None
    check_scope(user, scope_of(pack))
    return pack
