"""Reads of evaluation runs for the pages: the runs panel of a model or dataset, and one run's details."""

from __future__ import annotations

from django.db.models import QuerySet

from assessments.evaluations.runs import MODEL_EVALUATION_KINDS, can_change_target
from assessments.models import EvaluationRun, RunKind
from assessments.models.evaluations import ACTIVE_STATUSES
from governance.models import Dataset, MLModel

PANEL_HISTORY = 8
PANEL_FINDINGS = 25


def runs_for(parent, *, evaluations: bool = False) -> QuerySet[EvaluationRun]:
    """Every run on any version of a model or a dataset, newest first: for a model, its scans, or with
    ``evaluations`` its fairness and robustness runs (the model page shows them in panels of their own)."""
    base = EvaluationRun.objects.select_related("started_by", "model_version", "dataset_version")
    if isinstance(parent, MLModel):
        runs = base.filter(model_version__model=parent)
        runs = runs.filter(kind__in=MODEL_EVALUATION_KINDS) if evaluations else runs.exclude(
            kind__in=MODEL_EVALUATION_KINDS)
        return runs.order_by("-queued_at", "-id")
    if isinstance(parent, Dataset):
        return base.filter(dataset_version__dataset=parent).order_by("-queued_at", "-id")
    raise TypeError(f"runs belong to models and datasets, not {type(parent).__name__}")


def panel(*, user, parent) -> dict:
    """What the runs panel shows: the latest run with its findings, the history, and what the user may do.

    A fixed number of queries whatever the history's length: the history (one query), the latest run's
    findings (one), the newest version (one), and the permission check.
    """
    history = list(runs_for(parent)[:PANEL_HISTORY])
    latest = history[0] if history else None
    findings = list(latest.findings.all()[:PANEL_FINDINGS]) if latest else []
    newest_version = parent.versions.order_by("-created_at", "-id").first()
    can_change = can_change_target(user, newest_version) if newest_version else False
    if not can_change and newest_version is None:
        from governance import access
        can_change = (access.can_change_model(user, parent) if isinstance(parent, MLModel)
                      else access.can_change_dataset(user, parent))
    return {
        "parent": parent,
        "parent_kind": "model" if isinstance(parent, MLModel) else "dataset",
        "panel_id": f"runs-{'model' if isinstance(parent, MLModel) else 'dataset'}-{parent.pk}",
        "latest": latest,
        "findings": findings,
        "more_findings": bool(latest) and sum(latest.summary.get("counts", {}).values()) > len(findings),
        "history": history,
        "newest_version": newest_version,
        "can_change": can_change,
        "polling": any(run.status in ACTIVE_STATUSES for run in history),
        "scan_kind": "artifact_scan" if isinstance(parent, MLModel) else "dataset_scan",
    }


def run_detail(run: EvaluationRun) -> dict:
    findings = list(run.findings.all())
    fixed = (run.summary.get("changes") or {}).get("fixed_findings", [])
    same_target = ({"model_version": run.model_version_id} if run.model_version_id
                   else {"dataset_version": run.dataset_version_id})
    history = EvaluationRun.objects.filter(kind=run.kind, **same_target).select_related("started_by")
    return {"findings": findings, "fixed": fixed, "history": list(history.order_by("-queued_at", "-id")[:10])}


def evaluations_panel(*, user, model: MLModel) -> dict:
    """What the fairness and robustness panel of a model shows: the latest run of each kind with its
    headline figures, the recent history, and whether the user may start one.

    A fixed number of queries whatever the history's length: the history (one query), the reports of
    the two runs shown (one), whether the model has versions (one) and the permission check.
    """
    from governance import access

    # Reports can be large: only the two shown get theirs.
    history = list(runs_for(model, evaluations=True).defer("report")[:PANEL_HISTORY * 2])
    latest = {kind: next((run for run in history if run.kind == kind), None) for kind in MODEL_EVALUATION_KINDS}
    shown = {run.pk: run for run in latest.values() if run is not None}
    if shown:
        for pk, report in EvaluationRun.objects.filter(pk__in=shown).values_list("pk", "report"):
            shown[pk].report = report
    return {
        "parent": model,
        "panel_id": f"evaluations-model-{model.pk}",
        "fairness": latest[RunKind.FAIRNESS],
        "robustness": latest[RunKind.ROBUSTNESS],
        "history": history,
        "has_versions": model.versions.exists(),
        "can_change": access.can_change_model(user, model),
        "polling": any(run.status in ACTIVE_STATUSES for run in history),
    }
