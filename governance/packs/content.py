"""What goes into an evidence pack: gathered with the existing selectors, in a fixed number of queries.

``collect_pack`` reads everything a pack shows for a scope and a period and returns the template's
context, the CSV listings and the evidence revisions to list in the manifest (and attach when small).
The number of queries does not grow with the number of models in scope (a test holds it): every
read is a single query over all models, datasets or items at once, and the per-model pictures are
drawn from prefetched rows.

The PDF shows what a reader takes in; long listings (every risk, finding, requirement result,
audit entry and completion) go to attached CSV files, and the PDF says so where it cuts a table.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.safestring import mark_safe

from governance import access
from governance.models import (
    AuditEntry,
    BusinessUnit,
    Dataset,
    DatasetVersion,
    EvidenceItem,
    EvidenceRevision,
    MLModel,
    ModelVersion,
    RoleGrant,
)
from governance.models.evidence import Freshness
from governance.packs.scope import PackScope
from governance.selectors import business_unit_paths

# How much of each kind the PDF itself shows; everything is in the CSV files.
PDF_LIMITS = {"lineage": 12, "assessments": 25, "risks": 60, "findings": 60, "audit": 150, "training": 200,
              "runs": 80, "evidence": 400, "charts": 12}
ATTACH_MAX_FILE = 512 * 1024  # evidence files up to this size travel inside the pack
ATTACH_MAX_TOTAL = 16 * 1024 * 1024
AUDIT_CSV_MAX = 100_000


@dataclass
class EvidenceEntry:
    ref: str  # "E12": how the PDF and the manifest refer to it
    item: EvidenceItem
    revision: EvidenceRevision
    requirement_urns: list[str] = field(default_factory=list)
    requirement_refs: list[str] = field(default_factory=list)
    control_urns: list[str] = field(default_factory=list)
    freshness: str = ""
    attachment: str = ""  # the embedded file's name, when attached
    attach_note: str = ""

    @property
    def freshness_label(self) -> str:
        return Freshness(self.freshness).label


@dataclass
class PackContent:
    context: dict
    listings: dict[str, tuple[list[str], list[list]]]  # file name -> (header, rows)
    evidence: list[EvidenceEntry]
    attachments: dict[str, bytes]  # evidence files to embed, by name


def _aware_end(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def _aware_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _canonical_json(content) -> bytes:
    return json.dumps(content, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")).encode()


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_name(text: str) -> str:
    """An attachment name any PDF reader and file system accepts: letters, digits, . _ -"""
    return _UNSAFE_NAME.sub("_", text or "").strip("._")[:80] or "file"


# --- the parts ---------------------------------------------------------------------------------------------

def _inventory(models: list[MLModel], unit_paths: dict[int, str]) -> dict:
    """Models with their versions and the dataset versions behind them (two prefetch queries)."""
    datasets: dict[int, Dataset] = {}
    lineage_rows = []
    for model in models:
        versions = list(model.versions.all())
        model.pack_versions = versions
        model.unit_path = unit_paths.get(model.business_unit_id, "")
        for version in versions:
            for kind, related in (("training", version.training_datasets.all()),
                                  ("evaluation", version.evaluation_datasets.all())):
                for dataset_version in related:
                    datasets.setdefault(dataset_version.dataset_id, dataset_version.dataset)
                    lineage_rows.append([model.name, version.version, version.artifact_sha256, kind,
                                         dataset_version.dataset.name, dataset_version.version,
                                         dataset_version.sha256])
    return {"datasets": sorted(datasets.values(), key=lambda d: d.name.lower()), "lineage_rows": lineage_rows}


def _lineage_pictures(models: list[MLModel]) -> list[dict]:
    from governance.lineage import lineage_svg
    from governance.selectors import model_lineage

    pictures = []
    for model in models[:PDF_LIMITS["lineage"]]:
        graph = model_lineage(model=model, versions=model.pack_versions, url_for=lambda *args: "")
        if not graph.is_empty:
            pictures.append({"model": model, "svg": lineage_svg(graph, title=f"Lineage of {model.name}",
                                                                 id_prefix=f"lineage-{model.pk}")})
    return pictures


def _assessments(model_ids: list[int], end: dt.datetime) -> tuple[list, list]:
    from assessments.models import Assessment, AssessmentStatus
    from assessments.services.wizard import question_set_for
    from assessments.wizard import forms as wizard_forms

    assessments = list(
        Assessment.objects.filter(model_id__in=model_ids, completed_at__lt=end,
                                  status__in=(AssessmentStatus.COMPLETED, AssessmentStatus.SIGNED_OFF))
        .select_related("model", "model_version", "signed_off_by", "created_by")
        .order_by(Lower("model__name"), "kind", "-completed_at")
    )
    details = []
    for assessment in assessments[:PDF_LIMITS["assessments"]]:
        try:
            question_set = question_set_for(assessment)
        except Exception:  # a question set that no longer loads: list the assessment without its answers
            details.append({"assessment": assessment, "sections": [], "diagram": None})
            continue
        answers = assessment.answers or {}
        details.append({
            "assessment": assessment,
            "sections": wizard_forms.readable_answers(question_set, answers),
            "diagram": wizard_forms.diagram(question_set, answers, title=f"Data flows of {assessment.model.name}",
                                            id_prefix=f"dfd-{assessment.pk}"),
        })
    return assessments, details


def _risks(model_ids: list[int]) -> dict:
    from assessments.heatmap import heatmap_svg
    from assessments.models import Risk

    risks = list(Risk.objects.filter(model_id__in=model_ids)
                 .select_related("model", "threat", "owner", "matrix").prefetch_related("controls")
                 .order_by("-inherent_rank", Lower("model__name"), "title", "id"))
    matrices, counts = {}, defaultdict(Counter)
    for risk in risks:
        matrices[risk.matrix_id] = risk.matrix
        counts[risk.matrix_id][(risk.inherent_likelihood, risk.inherent_impact)] += 1
    heatmaps = [
        {"matrix": matrix, "svg": heatmap_svg(matrix=matrix, counts=dict(counts[matrix_id]), cell_url=lambda *a: "",
                                              title=f"Inherent risk on the {matrix.name} matrix",
                                              id_prefix=f"heatmap-{matrix_id}")}
        for matrix_id, matrix in matrices.items()
    ]
    levels = {m_id: {level["id"]: level for level in m.risk_levels} for m_id, m in matrices.items()}
    rows = [{"risk": r, "level": levels[r.matrix_id].get(r.inherent_level),
             "residual": levels[r.matrix_id].get(r.residual_level)} for r in risks]
    return {"rows": rows, "heatmaps": heatmaps, "total": len(risks),
            "open": sum(1 for r in risks if r.treatment_status != "done")}


def _compliance(scope: PackScope, model_qs, model_ids: list[int], evidence_by_requirement: dict[int, list[str]],
                on: dt.date) -> list[dict]:
    from assessments.models import Framework, RequirementResult
    from assessments.selectors.compliance import model_compliance, unit_compliance

    if scope.framework is not None:
        frameworks = [scope.framework]
    else:
        used = RequirementResult.objects.filter(model_id__in=model_ids).values("requirement__framework_id")
        frameworks = list(Framework.objects.filter(pk__in=used, is_deprecated=False).order_by("name"))
    reports = []
    for framework in frameworks:
        if scope.model is not None:
            report = model_compliance(model=scope.model, framework=framework, on=on)
        else:
            report = unit_compliance(user=None, framework=framework, business_unit=scope.business_unit,
                                     models=model_qs)
        rows = [row for row in report.rows if not row.is_group]
        for row in rows:
            row.pack_evidence = evidence_by_requirement.get(row.requirement.pk, [])
        reports.append({"report": report, "rows": rows})
    return reports


def _runs(model_ids: list[int], dataset_ids: list[int], end: dt.datetime) -> dict:
    from assessments.evaluations.charts import fairness_chart_svg, robustness_curve_svg
    from assessments.models import EvaluationRun, Finding, RunKind, RunStatus

    candidates = (EvaluationRun.objects.filter(status=RunStatus.SUCCEEDED, finished_at__lt=end)
                  .filter(Q(model_version__model_id__in=model_ids) | Q(dataset_version__dataset_id__in=dataset_ids))
                  .select_related("model_version__model", "dataset_version__dataset")
                  .defer("report").order_by("-finished_at", "-id"))
    latest, seen = [], set()
    for run in candidates:
        key = (run.kind, run.model_version_id, run.dataset_version_id)
        if key not in seen:
            seen.add(key)
            latest.append(run)
    run_ids = [run.pk for run in latest]
    chart_ids = [run.pk for run in latest if run.kind in (RunKind.FAIRNESS, RunKind.ROBUSTNESS)]
    reports = dict(EvaluationRun.objects.filter(pk__in=chart_ids[:PDF_LIMITS["charts"]]).values_list("pk", "report"))
    charts = []
    for run in latest:
        report = reports.get(run.pk)
        if not report:
            continue
        try:
            svg = fairness_chart_svg(report) if run.kind == RunKind.FAIRNESS else robustness_curve_svg(report)
        except (KeyError, IndexError, TypeError, ValueError, StopIteration, ZeroDivisionError):
            continue  # a result of an older shape: the figures are still in the table and the CSV
        # The chart functions escape every label themselves (assessments/evaluations/charts.py).
        charts.append({"run": run, "svg": mark_safe(svg)})  # noqa: S308
    findings = list(Finding.objects.filter(run_id__in=run_ids).select_related("run")
                    .order_by("-severity_rank", "run_id", "rule_id"))
    return {"runs": latest, "charts": charts, "findings": findings}


def _people(scope: PackScope, models: list[MLModel]) -> set[int]:
    units = scope.unit_ids()
    grants = RoleGrant.objects.all() if units is None else RoleGrant.objects.filter(business_unit_id__in=units)
    people = set(grants.values_list("user_id", flat=True))
    people |= {model.owner_id for model in models}
    return people


def _training(people: set[int], start: dt.datetime, end: dt.datetime) -> list:
    from training.models import Completion, CompletionKind

    return list(
        Completion.objects.filter(user_id__in=people, kind=CompletionKind.QUIZ, completed_at__lt=end,
                                  expires_at__gte=start, superseded_by__isnull=True)
        .select_related("user", "module").order_by(Lower("user__username"), "module__title", "-completed_at")
    )


def _audit(scope: PackScope, ids: dict[str, list], start: dt.datetime, end: dt.datetime):
    entries = AuditEntry.objects.filter(at__gte=start, at__lt=end)
    if scope.model is not None or scope.business_unit is not None:
        condition = Q(pk__in=[])
        for object_type, object_ids in ids.items():
            if object_ids:
                condition |= Q(object_type=object_type, object_id__in=[str(pk) for pk in object_ids])
        entries = entries.filter(condition)
    return entries.order_by("-at", "-id")


def _evidence(model_ids: list[int], dataset_ids: list[int], unit_ids: set[int] | None, end: dt.datetime,
              on: dt.date) -> tuple[list[EvidenceEntry], dict[int, list[str]]]:
    from assessments.models import ReferenceControl, Requirement

    shared = Q(model__isnull=True, dataset__isnull=True)
    if unit_ids is not None:
        shared &= Q(business_unit_id__in=unit_ids)
    items = {item.pk: item for item in EvidenceItem.objects.filter(
        Q(model_id__in=model_ids) | Q(dataset_id__in=dataset_ids) | shared).select_related("model", "dataset")}
    latest: dict[int, EvidenceRevision] = {}
    for revision in (EvidenceRevision.objects.filter(item_id__in=list(items), collected_at__lt=end)
                     .select_related("collector").order_by("item_id", "-number")):
        latest.setdefault(revision.item_id, revision)
    requirement_links = defaultdict(list)
    for item_id, req_id, urn, ref_id, framework in (
        Requirement.evidence.through.objects.filter(evidenceitem_id__in=list(latest))
        .values_list("evidenceitem_id", "requirement_id", "requirement__urn", "requirement__ref_id",
                     "requirement__framework__ref_id")
    ):
        requirement_links[item_id].append((req_id, urn, f"{framework} {ref_id}"))
    control_links = defaultdict(list)
    for item_id, urn in (ReferenceControl.evidence.through.objects.filter(evidenceitem_id__in=list(latest))
                         .values_list("evidenceitem_id", "referencecontrol__urn")):
        control_links[item_id].append(urn)

    entries, by_requirement = [], defaultdict(list)
    ordered = sorted(latest.values(), key=lambda r: (items[r.item_id].title.lower(), r.item_id))
    for revision in ordered:
        item = items[revision.item_id]
        links = sorted(requirement_links.get(item.pk, []), key=lambda link: link[1])
        entry = EvidenceEntry(
            ref=f"E{item.pk}", item=item, revision=revision, requirement_urns=[urn for _, urn, _ in links],
            requirement_refs=[ref for _, _, ref in links], control_urns=sorted(control_links.get(item.pk, [])),
            freshness=revision.freshness(on),
        )
        for requirement_id, _, _ in links:
            by_requirement[requirement_id].append(entry.ref)
        entries.append(entry)
    return entries, by_requirement


def _attach_evidence(entries: list[EvidenceEntry]) -> dict[str, bytes]:
    """Small evidence files and generated results, checked against their recorded SHA-256."""
    import hashlib

    attachments, total = {}, 0
    for entry in entries:
        revision = entry.revision
        if revision.size > ATTACH_MAX_FILE:
            entry.attach_note = "too large to attach"
            continue
        if total + revision.size > ATTACH_MAX_TOTAL:
            entry.attach_note = "not attached: the pack's attachment budget is used up"
            continue
        if revision.content is not None:
            data, suffix = _canonical_json(revision.content), ".json"
        elif revision.file:
            try:
                with default_storage.open(revision.file.name, "rb") as handle:
                    data = handle.read(ATTACH_MAX_FILE + 1)
            except OSError:  # missing, or refused by the encrypted storage's integrity check
                entry.attach_note = "the stored file could not be read"
                continue
            suffix = ""
        else:
            data, suffix = revision.url.encode(), ".url"
        if hashlib.sha256(data).hexdigest() != revision.sha256:
            entry.attach_note = "the stored copy does not match its recorded SHA-256; not attached"
            continue
        base = revision.file_name if revision.file else entry.item.title
        name = f"evidence/{entry.ref}-r{revision.number}-{_safe_name(base)[:80]}{suffix}"
        attachments[name] = data
        entry.attachment = name
        total += len(data)
    return attachments


# --- everything --------------------------------------------------------------------------------------------

def collect_pack(*, scope: PackScope, user, period_start: dt.date, period_end: dt.date,
                 progress=lambda percent, message: None) -> PackContent:
    from assessments.models import Assessment, EvaluationRun

    start, end = _aware_start(period_start), _aware_end(period_end)
    on = min(period_end, timezone.localdate())
    unit_paths = business_unit_paths(BusinessUnit.objects.all())
    model_qs = scope.model_queryset(user)
    # Datasets as the requester may see them (the model page shows the same lineage).
    visible_datasets = access.visible_datasets(user) if user is not None else Dataset.objects.all()
    dataset_versions = (DatasetVersion.objects.filter(dataset__in=visible_datasets).select_related("dataset")
                        .order_by(Lower("dataset__name"), "-created_at"))
    models = list(
        model_qs.select_related("owner", "business_unit").prefetch_related(
            Prefetch("versions", queryset=ModelVersion.objects.order_by("-created_at", "-id").prefetch_related(
                Prefetch("training_datasets", queryset=dataset_versions),
                Prefetch("evaluation_datasets", queryset=dataset_versions),
            ))
        ).order_by(Lower("name"))
    )
    model_ids = [m.pk for m in models]
    progress(8, "Reading the inventory")
    inventory = _inventory(models, unit_paths)
    datasets = inventory["datasets"]
    if scope.model is None:
        # A unit or the organisation: its own datasets count too, used by a model or not.
        unit_ids = scope.unit_ids()
        own = visible_datasets if unit_ids is None else visible_datasets.filter(business_unit_id__in=unit_ids)
        known = {d.pk for d in datasets}
        datasets = sorted([*datasets, *(d for d in own.exclude(pk__in=known))], key=lambda d: d.name.lower())
    dataset_ids = [d.pk for d in datasets]
    for dataset in datasets:
        dataset.unit_path = unit_paths.get(dataset.business_unit_id, "")
    lineage = _lineage_pictures(models)

    progress(14, "Reading the assessments and the risk register")
    assessments, assessment_details = _assessments(model_ids, end)
    risks = _risks(model_ids)

    progress(20, "Reading the evidence")
    evidence, by_requirement = _evidence(model_ids, dataset_ids, scope.unit_ids(), end, on)
    compliance = _compliance(scope, model_qs, model_ids, by_requirement, on)

    progress(26, "Reading scans and evaluations")
    runs = _runs(model_ids, dataset_ids, end)

    progress(30, "Reading training and the audit trail")
    completions = _training(_people(scope, models), start, end)
    version_ids = [v.pk for m in models for v in m.pack_versions]
    object_ids = {
        "governance.MLModel": model_ids, "governance.Dataset": dataset_ids, "governance.ModelVersion": version_ids,
        "governance.DatasetVersion": list(DatasetVersion.objects.filter(dataset_id__in=dataset_ids)
                                          .values_list("pk", flat=True)),
        "assessments.Assessment": list(Assessment.objects.filter(model_id__in=model_ids).values_list("pk", flat=True)),
        "assessments.Risk": [row["risk"].pk for row in risks["rows"]],
        "assessments.EvaluationRun": list(EvaluationRun.objects.filter(
            Q(model_version__model_id__in=model_ids) | Q(dataset_version__dataset_id__in=dataset_ids))
            .values_list("pk", flat=True)),
        "governance.EvidenceRevision": [e.revision.pk for e in evidence],
        "governance.EvidencePack": [],
    }
    audit_entries = list(_audit(scope, object_ids, start, end)[:AUDIT_CSV_MAX])

    progress(34, "Attaching evidence files")
    attachments = _attach_evidence(evidence)

    freshness = Counter(entry.freshness for entry in evidence)
    findings = runs["findings"]
    severity = Counter(f.severity for f in findings)
    modules = Counter(c.module.title for c in completions)
    context = {
        "models": models, "datasets": datasets, "lineage": lineage,
        "assessments": assessments, "assessment_details": assessment_details,
        "risks": risks, "risk_rows": risks["rows"][:PDF_LIMITS["risks"]],
        "compliance": compliance,
        "runs": runs["runs"][:PDF_LIMITS["runs"]], "run_count": len(runs["runs"]), "charts": runs["charts"],
        "findings": [f for f in findings if f.severity in ("critical", "high")][:PDF_LIMITS["findings"]],
        "finding_counts": [(name, severity[name]) for name in ("critical", "high", "medium", "low", "info")
                           if severity.get(name)], "finding_total": len(findings),
        "completions": completions[:PDF_LIMITS["training"]], "completion_count": len(completions),
        "completion_people": len({c.user_id for c in completions}), "completion_modules": sorted(modules.items()),
        "audit_entries": audit_entries[:PDF_LIMITS["audit"]], "audit_count": len(audit_entries),
        "evidence": evidence[:PDF_LIMITS["evidence"]], "evidence_count": len(evidence),
        "freshness": {"current": freshness.get(Freshness.CURRENT, 0), "expiring": freshness.get(Freshness.EXPIRING, 0),
                      "expired": freshness.get(Freshness.EXPIRED, 0)},
        "attachment_count": len(attachments), "limits": PDF_LIMITS,
        "is_empty": not (models or datasets or evidence or audit_entries or completions),
    }

    def when(value):
        return value.isoformat() if value else ""

    listings = {
        "listings/models.csv": (
            ["id", "name", "business unit", "owner", "risk tier", "lifecycle stage", "task", "data categories",
             "versions", "latest version", "latest artifact sha256"],
            [[m.pk, m.name, m.unit_path, _person(m.owner), m.get_risk_tier_display(), m.get_lifecycle_stage_display(),
              m.get_task_type_display(), "; ".join(m.data_category_labels), len(m.pack_versions),
              m.pack_versions[0].version if m.pack_versions else "",
              m.pack_versions[0].artifact_sha256 if m.pack_versions else ""] for m in models]),
        "listings/datasets.csv": (
            ["id", "name", "business unit", "legal basis", "retention days", "data categories", "source"],
            [[d.pk, d.name, d.unit_path, d.get_legal_basis_display(), d.retention_days or "",
              "; ".join(d.data_category_labels), d.source] for d in datasets]),
        "listings/lineage.csv": (
            ["model", "model version", "artifact sha256", "use", "dataset", "dataset version", "dataset sha256"],
            inventory["lineage_rows"]),
        "listings/assessments.csv": (
            ["id", "model", "kind", "title", "status", "completed at", "signed off at", "signed off by"],
            [[a.pk, a.model.name, a.get_kind_display(), a.title, a.get_status_display(), when(a.completed_at),
              when(a.signed_off_at), _person(a.signed_off_by)] for a in assessments]),
        "listings/risks.csv": (
            ["id", "model", "title", "threat", "inherent likelihood", "inherent impact", "inherent level",
             "treatment", "treatment status", "residual level", "owner", "due date", "controls"],
            [[r.pk, r.model.name, r.title, r.threat.ref_id if r.threat else "", r.inherent_likelihood,
              r.inherent_impact, r.inherent_level, r.get_treatment_display(), r.get_treatment_status_display(),
              r.residual_level, _person(r.owner), when(r.due_date), "; ".join(c.ref_id for c in r.controls.all())]
             for r in (row["risk"] for row in risks["rows"])]),
        "listings/requirements.csv": (
            ["framework", "requirement", "urn", "name", "status", "evidence"],
            [[entry["report"].framework.ref_id, row.requirement.ref_id, row.requirement.urn, row.requirement.name,
              row.status_label, " ".join(row.pack_evidence)] for entry in compliance for row in entry["rows"]]),
        "listings/runs.csv": (
            ["id", "kind", "target", "finished at", "verdict", "critical", "high", "medium", "low", "info",
             "input sha256"],
            [[r.pk, r.get_kind_display(), str(r.target), when(r.finished_at),
              r.summary.get("verdict") or r.summary.get("max_severity") or "",
              *[r.summary.get("counts", {}).get(s, 0) for s in ("critical", "high", "medium", "low", "info")],
              r.inputs.get("sha256", "")] for r in runs["runs"]]),
        "listings/findings.csv": (
            ["run", "severity", "rule", "title", "location", "requirements", "change"],
            [[f.run_id, f.severity, f.rule_id, f.title, f.location, " ".join(f.requirement_urns), f.change]
             for f in findings]),
        "listings/training.csv": (
            ["person", "module", "module version", "completed at", "score", "expires at", "certificate"],
            [[_person(c.user), c.module.title, c.module_version, when(c.completed_at), c.score, when(c.expires_at),
              c.certificate_code] for c in completions]),
        "listings/audit.csv": (
            ["id", "at", "actor", "action", "object type", "object id", "object", "entry hash", "previous hash"],
            [[e.pk, when(e.at), e.actor_label, e.action, e.object_type, e.object_id, e.object_repr, e.entry_hash,
              e.prev_hash] for e in audit_entries]),
        "listings/evidence.csv": (
            ["ref", "item id", "revision", "title", "source", "model", "dataset", "collected at", "effective date",
             "expires", "freshness", "media type", "size", "sha256", "requirements", "attachment"],
            [[e.ref, e.item.pk, e.revision.number, e.item.title, e.item.get_source_display(),
              e.item.model.name if e.item.model else "", e.item.dataset.name if e.item.dataset else "",
              when(e.revision.collected_at), when(e.revision.effective_date), when(e.revision.expires_at),
              e.freshness_label, e.revision.media_type, e.revision.size, e.revision.sha256,
              " ".join(e.requirement_urns), e.attachment] for e in evidence]),
    }
    return PackContent(context=context, listings=listings, evidence=evidence, attachments=attachments)
