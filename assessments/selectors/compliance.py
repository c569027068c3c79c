"""Compliance per framework: requirement rows with their status, the controls and evidence behind
each, and a coverage figure, for one model or for every visible model of a business unit; and the same
framework seen "through the mappings" from the results of other frameworks.

Coverage is ``(met + 0.5 * partial) / applicable``: requirements judged not applicable are left out,
and so (for one model) are requirements nobody has marked applicable yet, which show as "not
assessed". Every report costs a fixed number of queries, whatever the number of requirements or models.

The mapped view
---------------
A requirement B of the viewed framework is read through each typed mapping that links it to a
requirement A of another framework (``RequirementMapping``, read in the direction "A <relationship> B",
swapping subset and superset when the mapping is stored the other way round):

* A **equal** B or A **superset** B (A asks everything B asks): A met makes B met; A partial makes B partial;
* A **subset** B or A **intersect** B (A covers only part of B): A met or partial makes B partial;
* A gap, not assessed or not applicable carries nothing over.

The best outcome over all of B's mappings wins. B is "not covered" when it has mappings but none
carries anything, and "not mapped" when it has none. The mapped coverage is over B's assessable
requirements (less those judged not applicable to the model in B itself), since the point of the view
is to show how far work done for the other frameworks already goes for this one.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import timezone

from assessments.models import (
    INVERSE_RELATIONSHIP,
    AppliedControl,
    ControlRequirement,
    ControlStatus,
    Framework,
    MappingRelationship,
    ReferenceControl,
    Requirement,
    RequirementMapping,
    RequirementResult,
    ResultStatus,
)
from assessments.services.register import EFFECTIVE_CONTROL_STATUSES, evidence_scope_q
from governance.access import visible_models
from governance.models import BusinessUnit, EvidenceItem, EvidenceRevision, MLModel
from governance.models.evidence import Freshness
from governance.selectors import unit_and_descendant_ids

# Statuses in the order a reader scans them, worst last; "not mapped" / "not covered" only in mapped views.
NOT_COVERED = "not_covered"
NOT_MAPPED = "not_mapped"
STATUS_LABELS = {
    ResultStatus.MET: "Met",
    ResultStatus.PARTIAL: "Partially met",
    ResultStatus.GAP: "Gap",
    ResultStatus.NOT_ASSESSED: "Not assessed",
    ResultStatus.NOT_APPLICABLE: "Not applicable",
    NOT_COVERED: "Not covered",
    NOT_MAPPED: "Not mapped",
}
STATUS_BADGES = {
    ResultStatus.MET: "ok",
    ResultStatus.PARTIAL: "warn",
    ResultStatus.GAP: "fail",
    ResultStatus.NOT_ASSESSED: "pending",
    ResultStatus.NOT_APPLICABLE: "plain",
    NOT_COVERED: "fail",
    NOT_MAPPED: "plain",
}
SUMMARY_ORDER = (ResultStatus.MET, ResultStatus.PARTIAL, ResultStatus.GAP, ResultStatus.NOT_ASSESSED,
                 ResultStatus.NOT_APPLICABLE)
MAPPED_ORDER = (ResultStatus.MET, ResultStatus.PARTIAL, NOT_COVERED, NOT_MAPPED, ResultStatus.NOT_APPLICABLE)
# What an A status carries to B, by the relationship "A <rel> B".
_CARRY = {
    MappingRelationship.EQUAL: {ResultStatus.MET: ResultStatus.MET, ResultStatus.PARTIAL: ResultStatus.PARTIAL},
    MappingRelationship.SUPERSET: {ResultStatus.MET: ResultStatus.MET, ResultStatus.PARTIAL: ResultStatus.PARTIAL},
    MappingRelationship.SUBSET: {ResultStatus.MET: ResultStatus.PARTIAL, ResultStatus.PARTIAL: ResultStatus.PARTIAL},
    MappingRelationship.INTERSECT: {ResultStatus.MET: ResultStatus.PARTIAL,
                                    ResultStatus.PARTIAL: ResultStatus.PARTIAL},
}
_STRENGTH = {ResultStatus.MET: 2, ResultStatus.PARTIAL: 1}


def carried_status(relationship: str, source_status: str) -> str | None:
    """What a source requirement's status gives the target through one mapping ("source <rel> target")."""
    return _CARRY.get(relationship, {}).get(source_status)


def coverage(counts: dict[str, int], applicable: int) -> float | None:
    """Percentage (0-100, one decimal) or None when nothing is applicable."""
    if not applicable:
        return None
    return round(100 * (counts.get(ResultStatus.MET, 0) + 0.5 * counts.get(ResultStatus.PARTIAL, 0)) / applicable, 1)


# --- report structure -------------------------------------------------------------------------------

@dataclass
class ControlLine:
    control: ReferenceControl
    status: str = ""  # the model's AppliedControl status ("" when it has not got it)
    models_with_it: int = 0  # business-unit scope: models where it is implemented or verified

    @property
    def effective(self) -> bool:
        return self.status in EFFECTIVE_CONTROL_STATUSES

    @property
    def status_label(self) -> str:
        return ControlStatus(self.status).label if self.status else "Not in place"


@dataclass
class EvidenceLine:
    item_id: int
    title: str
    freshness: str

    @property
    def freshness_label(self) -> str:
        return Freshness(self.freshness).label if self.freshness else "No revision"


@dataclass
class MappedSource:
    requirement: Requirement
    relationship: str  # read as "requirement <relationship> the row's requirement"
    strength: int
    status: str  # the source's status (model scope) or "" (unit scope)
    carries: str | None

    @property
    def relationship_label(self) -> str:
        return MappingRelationship(self.relationship).label

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, "")

    @property
    def carries_label(self) -> str:
        return STATUS_LABELS.get(self.carries, "") if self.carries else ""


@dataclass
class RequirementRow:
    requirement: Requirement
    status: str = ""  # "" for grouping nodes
    note: str = ""
    overridden: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # business-unit scope: models per status
    controls: list[ControlLine] = field(default_factory=list)
    evidence: list[EvidenceLine] = field(default_factory=list)
    evidence_count: int = 0
    own_status: str = ""  # mapped view: the model's own result in this framework
    sources: list[MappedSource] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return not self.requirement.assessable

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, "")

    @property
    def badge(self) -> str:
        return STATUS_BADGES.get(self.status, "plain")

    @property
    def in_place(self) -> int:
        """Controls behind the requirement that the model has (implemented or verified)."""
        return sum(1 for line in self.controls if line.effective)

    @property
    def own_status_label(self) -> str:
        return STATUS_LABELS.get(self.own_status, "")

    @property
    def count_items(self) -> list[tuple[str, str, str, int]]:
        """(status, label, badge, count) for the business-unit scope, in reading order, zeros left out."""
        order = MAPPED_ORDER if NOT_COVERED in self.counts or NOT_MAPPED in self.counts else SUMMARY_ORDER
        return [(s, STATUS_LABELS[s], STATUS_BADGES[s], self.counts[s]) for s in order if self.counts.get(s)]


@dataclass
class ComplianceReport:
    framework: Framework
    rows: list[RequirementRow]
    counts: dict[str, int]
    applicable: int
    model: MLModel | None = None
    business_unit: BusinessUnit | None = None
    model_count: int = 0
    through: list[Framework] = field(default_factory=list)  # mapped view: the frameworks read through
    mapped: bool = False

    @property
    def coverage(self) -> float | None:
        return coverage(self.counts, self.applicable)

    @property
    def summary(self) -> list[tuple[str, str, str, int]]:
        order = MAPPED_ORDER if self.mapped else SUMMARY_ORDER
        return [(s, STATUS_LABELS[s], STATUS_BADGES[s], self.counts.get(s, 0)) for s in order]

    @property
    def controls(self) -> list[ControlLine]:
        """The distinct controls behind the framework's requirements (model scope: with their status)."""
        seen: dict[int, ControlLine] = {}
        for row in self.rows:
            for line in row.controls:
                seen.setdefault(line.control.pk, line)
        return sorted(seen.values(), key=lambda line: (line.effective, line.control.ref_id))


# --- helpers ----------------------------------------------------------------------------------------

def frameworks() -> list[Framework]:
    return list(Framework.objects.filter(is_deprecated=False).order_by("name"))


def _requirements(framework: Framework) -> list[Requirement]:
    return list(Requirement.objects.filter(framework=framework, is_deprecated=False).order_by("order"))


def _control_lines(requirement_ids) -> dict[int, list[ReferenceControl]]:
    by_requirement: dict[int, list[ReferenceControl]] = defaultdict(list)
    links = (ControlRequirement.objects.filter(requirement_id__in=requirement_ids, control__is_deprecated=False)
             .select_related("control").order_by("control__ref_id"))
    for link in links:
        by_requirement[link.requirement_id].append(link.control)
    return by_requirement


def _freshness(number, expires: dt.date | None, on: dt.date) -> str:
    if number is None:
        return ""
    return EvidenceRevision(expires_at=expires).freshness(on)


def models_in_scope(*, user, business_unit: BusinessUnit | None):
    """The visible models of a business unit and the units below it (all visible models without a unit)."""
    models = visible_models(user)
    if business_unit is not None:
        models = models.filter(business_unit_id__in=unit_and_descendant_ids(business_unit.pk))
    return models


# --- one model --------------------------------------------------------------------------------------

def model_compliance(*, model: MLModel, framework: Framework, on: dt.date | None = None) -> ComplianceReport:
    """The framework's requirements for one model: five queries."""
    from django.db.models import OuterRef, Subquery

    on = on or timezone.localdate()
    requirements = _requirements(framework)
    ids = [r.pk for r in requirements]
    results = {r.requirement_id: r for r in RequirementResult.objects.filter(model=model, requirement_id__in=ids)}
    controls = _control_lines(ids)
    applied = dict(AppliedControl.objects.filter(model=model).values_list("control_id", "status"))
    latest = EvidenceRevision.objects.filter(item_id=OuterRef("evidenceitem_id")).order_by("-number")
    evidence: dict[int, list[EvidenceLine]] = defaultdict(list)
    for requirement_id, item_id, title, number, expires in (
        EvidenceItem.requirements.through.objects.filter(requirement_id__in=ids)
        .filter(evidence_scope_q(model, "evidenceitem__"))
        .annotate(number=Subquery(latest.values("number")[:1]), expires=Subquery(latest.values("expires_at")[:1]))
        .order_by("evidenceitem__title")
        .values_list("requirement_id", "evidenceitem_id", "evidenceitem__title", "number", "expires")
    ):
        evidence[requirement_id].append(EvidenceLine(item_id, title, _freshness(number, expires, on)))

    rows, counts, applicable = [], Counter(), 0
    for requirement in requirements:
        row = RequirementRow(requirement=requirement)
        if requirement.assessable:
            result = results.get(requirement.pk)
            row.status = result.status if result else ResultStatus.NOT_ASSESSED
            if result and not result.applicable:
                row.status = ResultStatus.NOT_APPLICABLE
            row.note = result.note if result else ""
            row.overridden = bool(result and result.status_overridden)
            row.controls = [ControlLine(c, status=applied.get(c.pk, "")) for c in controls.get(requirement.pk, [])]
            row.evidence = evidence.get(requirement.pk, [])
            row.evidence_count = len(row.evidence)
            counts[row.status] += 1
            if result and result.applicable:
                applicable += 1
        rows.append(row)
    return ComplianceReport(framework=framework, rows=rows, counts=dict(counts), applicable=applicable,
                            model=model, model_count=1)


# --- a business unit --------------------------------------------------------------------------------

def unit_compliance(*, user, framework: Framework, business_unit: BusinessUnit | None = None,
                    models=None) -> ComplianceReport:
    """The framework across every visible model of a unit (and the units below): per requirement, how
    many models are at each status; coverage over all (model, requirement) results judged applicable.
    Seven queries, whatever the number of models. ``models`` (a queryset) replaces the user's visible
    models of the unit when the caller has already decided which models count (an evidence pack)."""
    models = models if models is not None else models_in_scope(user=user, business_unit=business_unit)
    model_ids = models.values("pk")
    model_count = models.count()
    requirements = _requirements(framework)
    ids = [r.pk for r in requirements]
    per_requirement: dict[int, Counter] = defaultdict(Counter)
    for requirement_id, applicable_flag, status, count in (
        RequirementResult.objects.filter(model_id__in=model_ids, requirement_id__in=ids).order_by()
        .values_list("requirement_id", "applicable", "status").annotate(n=Count("id"))
    ):
        key = status if applicable_flag else ResultStatus.NOT_APPLICABLE
        per_requirement[requirement_id][key] += count
    controls = _control_lines(ids)
    with_control = dict(
        AppliedControl.objects.filter(model_id__in=model_ids, status__in=EFFECTIVE_CONTROL_STATUSES).order_by()
        .values_list("control_id").annotate(n=Count("model_id", distinct=True))
    )
    unit_ids = unit_and_descendant_ids(business_unit.pk) if business_unit else None
    shared = Q(evidenceitem__model__isnull=True, evidenceitem__dataset__isnull=True)
    if unit_ids is not None:
        shared &= Q(evidenceitem__business_unit_id__in=unit_ids)
    else:
        shared &= Q(evidenceitem__business_unit_id__in=models.values("business_unit_id"))
    evidence_counts = dict(
        EvidenceItem.requirements.through.objects.filter(requirement_id__in=ids)
        .filter(Q(evidenceitem__model_id__in=model_ids) | shared).order_by()
        .values_list("requirement_id").annotate(n=Count("evidenceitem_id", distinct=True))
    )

    rows, counts, applicable = [], Counter(), 0
    for requirement in requirements:
        row = RequirementRow(requirement=requirement)
        if requirement.assessable:
            found = per_requirement.get(requirement.pk, Counter())
            not_assessed = model_count - sum(found.values())
            row.counts = dict(found)
            if not_assessed > 0:
                row.counts[ResultStatus.NOT_ASSESSED] = row.counts.get(ResultStatus.NOT_ASSESSED, 0) + not_assessed
            row.status = _dominant(row.counts)
            row.controls = [ControlLine(c, models_with_it=with_control.get(c.pk, 0))
                            for c in controls.get(requirement.pk, [])]
            row.evidence_count = evidence_counts.get(requirement.pk, 0)
            counts.update(row.counts)
            applicable += sum(n for s, n in found.items() if s != ResultStatus.NOT_APPLICABLE)
        rows.append(row)
    return ComplianceReport(framework=framework, rows=rows, counts=dict(counts), applicable=applicable,
                            business_unit=business_unit, model_count=model_count)


def _dominant(counts: dict[str, int]) -> str:
    """The row's headline status across models: the worst one that any assessed model has."""
    for status in (ResultStatus.GAP, ResultStatus.PARTIAL, ResultStatus.MET):
        if counts.get(status):
            return status
    if counts.get(ResultStatus.NOT_ASSESSED):
        return ResultStatus.NOT_ASSESSED
    return ResultStatus.NOT_APPLICABLE if counts else ResultStatus.NOT_ASSESSED


# --- through the mappings ---------------------------------------------------------------------------

def _oriented_mappings(framework: Framework, through: list[Framework]) -> dict[int, list[tuple]]:
    """{B requirement id: [(A requirement, "A <rel> B", strength)]} for mappings between B and ``through``."""
    through_ids = [f.pk for f in through]
    mappings = (
        RequirementMapping.objects.filter(is_deprecated=False, source__is_deprecated=False,
                                          target__is_deprecated=False)
        .filter(Q(source__framework=framework, target__framework_id__in=through_ids)
                | Q(target__framework=framework, source__framework_id__in=through_ids))
        .select_related("source__framework", "target__framework")
    )
    oriented: dict[int, list[tuple]] = defaultdict(list)
    for mapping in mappings:
        if mapping.target.framework_id == framework.pk:
            oriented[mapping.target_id].append((mapping.source, mapping.relationship, mapping.strength))
        else:
            inverse = INVERSE_RELATIONSHIP[MappingRelationship(mapping.relationship)]
            oriented[mapping.source_id].append((mapping.target, str(inverse), mapping.strength))
    for sources in oriented.values():
        sources.sort(key=lambda s: (-s[2], s[0].framework.name, s[0].order))
    return oriented


def _best(statuses) -> str | None:
    best = None
    for status in statuses:
        if status and (best is None or _STRENGTH[status] > _STRENGTH[best]):
            best = status
    return best


def _through_frameworks(framework: Framework, through: Framework | None) -> list[Framework]:
    if through is not None:
        return [through] if through.pk != framework.pk else []
    return [f for f in frameworks() if f.pk != framework.pk]


def mapped_model_compliance(*, model: MLModel, framework: Framework,
                            through: Framework | None = None) -> ComplianceReport:
    """``framework`` for one model, read from its results in ``through`` (or every other framework).
    Three queries (plus one for the framework list when ``through`` is None). See the module docstring."""
    frameworks_through = _through_frameworks(framework, through)
    requirements = _requirements(framework)
    oriented = _oriented_mappings(framework, frameworks_through)
    source_ids = {a.pk for sources in oriented.values() for a, _, _ in sources}
    wanted = source_ids | {r.pk for r in requirements}
    statuses = {}
    for requirement_id, applicable_flag, status in RequirementResult.objects.filter(
        model=model, requirement_id__in=wanted
    ).values_list("requirement_id", "applicable", "status"):
        statuses[requirement_id] = status if applicable_flag else ResultStatus.NOT_APPLICABLE

    rows, counts, applicable = [], Counter(), 0
    for requirement in requirements:
        row = RequirementRow(requirement=requirement)
        if requirement.assessable:
            row.own_status = statuses.get(requirement.pk, ResultStatus.NOT_ASSESSED)
            row.sources = [
                MappedSource(a, rel, strength, statuses.get(a.pk, ResultStatus.NOT_ASSESSED),
                             carried_status(rel, statuses.get(a.pk, "")))
                for a, rel, strength in oriented.get(requirement.pk, [])
            ]
            if row.own_status == ResultStatus.NOT_APPLICABLE:
                row.status = ResultStatus.NOT_APPLICABLE
            elif not row.sources:
                row.status = NOT_MAPPED
            else:
                row.status = _best(s.carries for s in row.sources) or NOT_COVERED
            counts[row.status] += 1
            if row.status != ResultStatus.NOT_APPLICABLE:
                applicable += 1
        rows.append(row)
    return ComplianceReport(framework=framework, rows=rows, counts=dict(counts), applicable=applicable,
                            model=model, model_count=1, through=frameworks_through, mapped=True)


def mapped_unit_compliance(*, user, framework: Framework, business_unit: BusinessUnit | None = None,
                           through: Framework | None = None) -> ComplianceReport:
    """The mapped view across the visible models of a unit: per B requirement, how many models it is
    met / partial / not covered for through the mappings. Coverage over (model, B requirement) pairs."""
    frameworks_through = _through_frameworks(framework, through)
    models = models_in_scope(user=user, business_unit=business_unit)
    model_count = models.count()
    requirements = _requirements(framework)
    oriented = _oriented_mappings(framework, frameworks_through)
    source_ids = {a.pk for sources in oriented.values() for a, _, _ in sources}
    own_ids = {r.pk for r in requirements if r.assessable}
    # Only the results that matter: of the mapped sources, and "not applicable" in B itself.
    by_source: dict[int, dict[int, str]] = defaultdict(dict)
    not_applicable: dict[int, set[int]] = defaultdict(set)
    # Only rows that carry something or exclude something, and the models as a subquery (not a long list).
    for model_id, requirement_id, applicable_flag, status in RequirementResult.objects.filter(
        Q(requirement_id__in=source_ids, applicable=True, status__in=list(_STRENGTH))
        | Q(requirement_id__in=own_ids, applicable=False),
        model_id__in=models.values("pk"),
    ).values_list("model_id", "requirement_id", "applicable", "status"):
        if requirement_id in own_ids and not applicable_flag:
            not_applicable[requirement_id].add(model_id)
        if requirement_id in source_ids and applicable_flag and status in _STRENGTH:
            by_source[requirement_id][model_id] = status

    rows, counts, applicable = [], Counter(), 0
    for requirement in requirements:
        row = RequirementRow(requirement=requirement)
        if requirement.assessable:
            sources = oriented.get(requirement.pk, [])
            row.sources = [MappedSource(a, rel, strength, "", None) for a, rel, strength in sources]
            excluded = not_applicable.get(requirement.pk, set())
            row_counts: Counter = Counter()
            if excluded:
                row_counts[ResultStatus.NOT_APPLICABLE] = len(excluded)
            if not sources:
                row_counts[NOT_MAPPED] = model_count - len(excluded)
            else:
                # Only models with a carrying result in some source need looking at one by one.
                best: dict[int, str] = {}
                for a, rel, _ in sources:
                    for model_id, status in by_source.get(a.pk, {}).items():
                        carried = carried_status(rel, status)
                        if model_id not in excluded and carried:
                            best[model_id] = _best((best.get(model_id), carried))
                row_counts.update(best.values())
                row_counts[NOT_COVERED] = model_count - len(excluded) - len(best)
            row.counts = {status: n for status, n in row_counts.items() if n}
            row.status = next((s for s in (NOT_COVERED, ResultStatus.PARTIAL, ResultStatus.MET, NOT_MAPPED)
                               if row.counts.get(s)), ResultStatus.NOT_APPLICABLE)
            counts.update(row.counts)
            applicable += sum(n for s, n in row.counts.items() if s != ResultStatus.NOT_APPLICABLE)
        rows.append(row)
    return ComplianceReport(framework=framework, rows=rows, counts=dict(counts), applicable=applicable,
                            business_unit=business_unit, model_count=model_count, through=frameworks_through,
                            mapped=True)
