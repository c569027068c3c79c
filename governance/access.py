"""Who may see and change what.

Two sources of access, combined:

* role grants per business unit, which reach down the business-unit tree;
* django-guardian object grants for single objects (an auditor granted one model, an ML lead who
  owns a model).

Every lookup of a protected object goes through a ``get_<thing>_for_user`` helper here: someone
who may not see the object gets 404 (we do not confirm it exists), someone who may see it but not
change it gets 403 on a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from governance.models import (
    BusinessUnit,
    Dataset,
    DatasetUserObjectPermission,
    DatasetVersion,
    MLModel,
    MLModelUserObjectPermission,
    ModelVersion,
    Role,
    RoleGrant,
)


class Capability(StrEnum):
    VIEW_INVENTORY = "view_inventory"
    CHANGE_INVENTORY = "change_inventory"
    RUN_ASSESSMENTS = "run_assessments"
    VIEW_AUDIT = "view_audit"
    MANAGE_TRAINING = "manage_training"
    MANAGE_USERS = "manage_users"
    # Erase dataset versions (crypto-shredding) and handle erasure requests: data-protection officers.
    MANAGE_DATA_PROTECTION = "manage_data_protection"


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.RISK_MANAGER: frozenset(
        {Capability.VIEW_INVENTORY, Capability.RUN_ASSESSMENTS, Capability.VIEW_AUDIT, Capability.MANAGE_TRAINING}
    ),
    Role.ML_LEAD: frozenset({Capability.VIEW_INVENTORY, Capability.CHANGE_INVENTORY}),
    Role.AUDITOR: frozenset({Capability.VIEW_INVENTORY, Capability.VIEW_AUDIT}),
    # A DPO reads the inventory and the trail (to sign off deployments, issue 8, and to judge what to erase)
    # and erases data past retention or on a subject's request (issue 9); changing the inventory stays with ML leads.
    Role.DATA_PROTECTION_OFFICER: frozenset(
        {Capability.VIEW_INVENTORY, Capability.VIEW_AUDIT, Capability.MANAGE_DATA_PROTECTION}
    ),
    # Staff take training, which every signed-in person may do; the role grants nothing more.
    Role.STAFF: frozenset(),
}

# The grant codenames that guardian stores for single objects.
VIEW, CHANGE = "view", "change"


@dataclass(frozen=True)
class AccessProfile:
    """What one user may do, computed once per request from their role grants."""

    roles: frozenset[str]
    unit_ids_by_capability: dict[Capability, frozenset[int]]
    is_superuser: bool = False

    def unit_ids(self, capability: Capability) -> frozenset[int]:
        return self.unit_ids_by_capability.get(capability, frozenset())

    def can(self, capability: Capability, business_unit_id: int | None = None) -> bool:
        if self.is_superuser:
            # Also before any business unit exists, so that a fresh install can be set up.
            return True
        units = self.unit_ids(capability)
        return bool(units) if business_unit_id is None else business_unit_id in units


def _descendants_by_unit() -> dict[int, set[int]]:
    """Each business unit's id mapped to itself and every unit below it (the tree is small)."""
    children: dict[int | None, list[int]] = {}
    for unit_id, parent_id in BusinessUnit.objects.values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(unit_id)
    result: dict[int, set[int]] = {}

    def collect(unit_id: int) -> set[int]:
        if unit_id not in result:
            below = {unit_id}
            for child in children.get(unit_id, []):
                below |= collect(child)
            result[unit_id] = below
        return result[unit_id]

    for unit_ids in children.values():
        for unit_id in unit_ids:
            collect(unit_id)
    return result


def access_profile(user) -> AccessProfile:
    """The user's access profile, cached on the user object for the rest of the request."""
    cached = getattr(user, "_warden_access", None)
    if cached is not None:
        return cached
    if not user.is_authenticated or not user.is_active:
        profile = AccessProfile(roles=frozenset(), unit_ids_by_capability={})
    else:
        grants = list(RoleGrant.objects.filter(user=user).values_list("role", "business_unit_id"))
        descendants = _descendants_by_unit() if grants or user.is_superuser else {}
        by_capability: dict[Capability, set[int]] = {}
        for role, unit_id in grants:
            for capability in ROLE_CAPABILITIES.get(role, ()):
                by_capability.setdefault(capability, set()).update(descendants.get(unit_id, {unit_id}))
        if user.is_superuser:
            every_unit = set(descendants)
            by_capability = {capability: every_unit for capability in Capability}
        profile = AccessProfile(
            roles=frozenset(role for role, _ in grants) | ({Role.ADMIN} if user.is_superuser else set()),
            unit_ids_by_capability={cap: frozenset(ids) for cap, ids in by_capability.items()},
            is_superuser=user.is_superuser,
        )
    user._warden_access = profile
    return profile


def forget_access_profile(user) -> None:
    """Drop the cached profile after the user's grants change."""
    user.__dict__.pop("_warden_access", None)


def business_units_for(user, capability: Capability) -> QuerySet[BusinessUnit]:
    return BusinessUnit.objects.filter(id__in=access_profile(user).unit_ids(capability))


class ScopedAccess:
    """Access rules for an object that belongs to a business unit and can be granted singly."""

    def __init__(self, model: type[Model], grant_model: type[Model], label: str):
        self.model = model
        self.grant_model = grant_model
        self.codename = {VIEW: f"view_{model._meta.model_name}", CHANGE: f"change_{model._meta.model_name}"}
        self.label = label

    def _granted_ids(self, user, codenames: list[str]):
        return self.grant_model.objects.filter(user=user, permission__codename__in=codenames).values(
            "content_object_id"
        )

    def visible(self, user) -> QuerySet:
        if not user.is_authenticated:
            return self.model.objects.none()
        profile = access_profile(user)
        units = profile.unit_ids(Capability.VIEW_INVENTORY) | profile.unit_ids(Capability.CHANGE_INVENTORY)
        granted = self._granted_ids(user, [self.codename[VIEW], self.codename[CHANGE]])
        return self.model.objects.filter(Q(business_unit_id__in=units) | Q(pk__in=granted))

    def can_change(self, user, obj) -> bool:
        if access_profile(user).can(Capability.CHANGE_INVENTORY, obj.business_unit_id):
            return True
        return self._granted_ids(user, [self.codename[CHANGE]]).filter(content_object_id=obj.pk).exists()

    def get_for_user(self, user, pk, *, write: bool = False):
        try:
            obj = self.visible(user).select_related("owner", "business_unit").get(pk=pk)
        except (self.model.DoesNotExist, ValueError, TypeError):
            raise Http404(f"No such {self.label}") from None
        if write and not self.can_change(user, obj):
            raise PermissionDenied(f"You may view this {self.label} but not change it.")
        return obj


model_access = ScopedAccess(MLModel, MLModelUserObjectPermission, "model")
dataset_access = ScopedAccess(Dataset, DatasetUserObjectPermission, "dataset")


def visible_models(user) -> QuerySet[MLModel]:
    return model_access.visible(user)


def visible_datasets(user) -> QuerySet[Dataset]:
    return dataset_access.visible(user)


def get_model_for_user(user, pk, *, write: bool = False) -> MLModel:
    return model_access.get_for_user(user, pk, write=write)


def get_dataset_for_user(user, pk, *, write: bool = False) -> Dataset:
    return dataset_access.get_for_user(user, pk, write=write)


def can_change_model(user, model: MLModel) -> bool:
    return model_access.can_change(user, model)


def can_change_dataset(user, dataset: Dataset) -> bool:
    return dataset_access.can_change(user, dataset)


def get_model_version_for_user(user, model_pk, version_pk, *, write: bool = False) -> ModelVersion:
    model = get_model_for_user(user, model_pk, write=write)
    try:
        return model.versions.select_related("model", "created_by").get(pk=version_pk)
    except (ModelVersion.DoesNotExist, ValueError, TypeError):
        raise Http404("No such model version") from None


def get_dataset_version_for_user(user, dataset_pk, version_pk, *, write: bool = False) -> DatasetVersion:
    dataset = get_dataset_for_user(user, dataset_pk, write=write)
    try:
        return dataset.versions.select_related("dataset", "created_by").get(pk=version_pk)
    except (DatasetVersion.DoesNotExist, ValueError, TypeError):
        raise Http404("No such dataset version") from None


def can_create_inventory_in(user, business_unit: BusinessUnit) -> bool:
    return access_profile(user).can(Capability.CHANGE_INVENTORY, business_unit.pk)


def require_capability(user, capability: Capability) -> None:
    """For pages that belong to a role rather than to an object: 403 for those without it."""
    if not access_profile(user).can(capability):
        raise PermissionDenied("Your role does not give access to this page.")
