"""What each kind of run does, between claiming and finishing (``runs.run_execute`` calls these).

A runner opens the target's file through Django's storage API (workers on other machines read the
same storage), calls the Django-free scanner, and turns its result into a ``RunOutcome``. It never
loads, unpickles or imports the artifact: the artifact scanner is static.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from assessments.approvals import gate_cache
from assessments.evaluations.runs import FindingData, RunContext, RunFailure, RunOutcome
from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.models import Dataset, DatasetVersion, MLModel
from governance.models.audit import AuditAction
from governance.services.audit import audit_record

PCI_SECURE_DEVELOPMENT = "urn:warden:pci-dss:6.2.4"
EU_AI_ACT_CYBERSECURITY = "urn:warden:eu-ai-act:art-15-5"
NIST_MEASURE_SECURITY = "urn:warden:nist-ai-rmf:measure-2.7"
SCANNING = "urn:warden:control:artefact-and-dependency-scanning"
SUPPLY_CHAIN = "urn:warden:control:supply-chain-vetting"
PROVENANCE = "urn:warden:control:data-provenance"

logger = logging.getLogger(__name__)

MISSING_FILE = "The stored file is missing, so it could not be scanned. Ask an administrator to restore it."
UNREADABLE_FILE = ("The stored file could not be read by the worker (the reason is in the worker's log). Ask an "
                   "administrator to check the worker's storage settings.")


def _open(field_file):
    from governance.retention.guards import erased_reason

    # A run queued before its dataset version was erased: say so, rather than "the file is missing".
    reason = erased_reason(field_file.instance)
    if reason:
        raise RunFailure(reason)
    try:
        return field_file.open("rb")
    except FileNotFoundError:
        raise RunFailure(MISSING_FILE) from None
    except OSError as exc:  # e.g. the storage's encryption key is not configured on this worker
        logger.error("Cannot open %s: %s", field_file.name, exc)
        raise RunFailure(UNREADABLE_FILE) from None


# --- artifact scan ---------------------------------------------------------------------------------------------

def _artifact_references(rule_id: str, severity: str) -> tuple[list[str], list[str]]:
    if rule_id.startswith(("pickle.", "keras.", "skops.", "onnx.")) and severity in ("critical", "high"):
        # Code that runs on load: an attack on the system through its supply chain.
        return [PCI_SECURE_DEVELOPMENT, EU_AI_ACT_CYBERSECURITY, NIST_MEASURE_SECURITY], [SCANNING, SUPPLY_CHAIN]
    return [NIST_MEASURE_SECURITY], [SCANNING]


def run_artifact_scan(run: EvaluationRun, ctx: RunContext) -> RunOutcome:
    from assessments.evaluations.artifact_scan import ScanError, scan_file

    version = run.model_version
    ctx.progress(5, "Reading the artifact")
    try:
        with _open(version.artifact) as handle:
            ctx.progress(10, "Analysing the artifact without loading it")
            result = scan_file(handle, name=version.artifact_name)
    except ScanError as exc:
        raise RunFailure(f"The artifact could not be read: {exc}") from None
    ctx.progress(90, "Recording the findings")
    findings = []
    for finding in result.findings:
        requirements, controls = _artifact_references(finding.rule_id, finding.severity)
        # The scanner names locations after the uploaded file; versions are compared without that name.
        place = finding.location
        if place.startswith(version.artifact_name):
            place = "<artifact>" + place[len(version.artifact_name):]
        findings.append(FindingData(
            severity=finding.severity, rule_id=finding.rule_id, title=finding.title, detail=finding.detail,
            location=finding.location, requirement_urns=requirements, control_urns=controls,
            fingerprint_location=place,
        ))
    if result.sha256 != version.artifact_sha256:
        findings.append(FindingData(
            severity="critical", rule_id="integrity.sha256-mismatch",
            title="The artifact no longer matches the SHA-256 recorded at upload",
            detail=f"Recorded {version.artifact_sha256}, found {result.sha256}: the stored file was changed or "
                   "replaced after it was registered.",
            location="file", requirement_urns=[PCI_SECURE_DEVELOPMENT], control_urns=[PROVENANCE],
        ))
    report = result.to_dict()
    summary = {
        "verdict": report["verdict"], "blocking": report["blocking"], "format": report["format"],
        "size": report["size"], "sha256": report["sha256"], "integrity_ok": result.sha256 == version.artifact_sha256,
        "imports": len(report["imports"]),
        "external": {verdict["tool"]: verdict["verdict"] for verdict in report["external"]},
    }
    return RunOutcome(
        findings=findings, summary=summary, report=report, tool_versions=dict(result.tool_versions),
        inputs={"sha256_scanned": result.sha256},
    )


# --- dataset scan ----------------------------------------------------------------------------------------------

def _previous_dataset_version(version: DatasetVersion) -> DatasetVersion | None:
    return (version.dataset.versions.filter(created_at__lt=version.created_at).exclude(pk=version.pk)
            .order_by("-created_at", "-id").first())


def _previous_scan(previous: DatasetVersion | None) -> tuple[dict | None, list[str] | None]:
    """The profile and the column names the last scan of the previous version found."""
    if previous is None:
        return None, None
    last = (EvaluationRun.objects.filter(kind=RunKind.DATASET_SCAN, status=RunStatus.SUCCEEDED,
                                         dataset_version=previous)
            .order_by("-finished_at", "-id").only("report").first())
    report = (last.report or {}) if last else {}
    columns = [column["name"] for column in report.get("columns") or [] if "name" in column]
    return report.get("profile"), (columns or None)


def apply_data_categories(run: EvaluationRun, *, personal: bool, cardholder: bool, columns: list[str]) -> dict:
    """Feed what the scan found into the inventory: the dataset's data categories, the sensitive columns of
    the version, and the categories of every model trained on that version.

    Written directly with ``audit_record(actor=None)`` (the trail shows "system" and the run), not through
    ``inventory.dataset_update``/``model_update``: those check a person's permission, and no person acts
    here. Flags are only ever raised, never cleared: taking data out of scope is a person's decision.
    """
    version = run.dataset_version
    wanted = {"processes_personal_data": personal, "processes_cardholder_data": cardholder}
    changed: dict = {}
    now = timezone.now()
    reason = f"run:{run.pk} ({run.get_kind_display().lower()})"

    dataset = Dataset.objects.select_for_update().get(pk=version.dataset_id)
    fields = {name: True for name, found in wanted.items() if found and not getattr(dataset, name)}
    if fields:
        Dataset.objects.filter(pk=dataset.pk).update(**fields, updated_at=now)
        audit_record(actor=None, action=AuditAction.UPDATE, obj=dataset,
                     changes={**{name: [False, True] for name in fields}, "reason": reason})
        changed["dataset"] = sorted(fields)

    sensitive = sorted(set(version.sensitive_columns) | set(columns))
    if sensitive != sorted(version.sensitive_columns):
        DatasetVersion.objects.filter(pk=version.pk).update(sensitive_columns=sensitive)
        audit_record(actor=None, action=AuditAction.UPDATE, obj=version,
                     changes={"sensitive_columns": [version.sensitive_columns, sensitive], "reason": reason})
        changed["sensitive_columns"] = sensitive

    # Models trained on this version inherit the categories of their training data.
    trained = set(MLModel.objects.filter(versions__training_datasets=version).values_list("pk", flat=True))
    for model in MLModel.objects.select_for_update().filter(pk__in=trained).order_by("pk"):
        fields = {name: True for name, found in wanted.items() if found and not getattr(model, name)}
        if fields:
            MLModel.objects.filter(pk=model.pk).update(**fields, updated_at=now)
            gate_cache.invalidate(model_ids=[model.pk])  # the model's data categories decide whether a DPIA is needed
            audit_record(actor=None, action=AuditAction.UPDATE, obj=model,
                         changes={**{name: [False, True] for name in fields}, "reason": reason,
                                  "inherited_from": str(version)})
            changed.setdefault("models", []).append(model.pk)
    return changed


def run_dataset_scan(run: EvaluationRun, ctx: RunContext) -> RunOutcome:
    from assessments.evaluations.dataset_scan import DatasetScanError, scan_dataset

    version = run.dataset_version
    previous = _previous_dataset_version(version)
    previous_profile, previous_columns = _previous_scan(previous)
    options = run.inputs.get("options") or {}
    ctx.progress(2, "Opening the data")
    try:
        with _open(version.file) as handle:
            result = scan_dataset(
                handle, file_format=version.file_format, name=version.file_name, expected_sha256=version.sha256,
                previous_profile=previous_profile, previous_columns=previous_columns,
                previous_label=previous.version if previous else "",
                label_column=options.get("label_column"),
                progress=lambda fraction, message: ctx.progress(2 + 93 * fraction, message),
            )
    except DatasetScanError as exc:
        raise RunFailure(str(exc)) from None
    ctx.progress(96, "Recording the findings")
    report = result.to_dict()
    findings = [FindingData(**finding.to_dict()) for finding in result.findings]
    pii_columns = sorted(result.pii)
    summary = {
        "rows": result.rows, "columns": len(result.columns), "duplicate_rows": result.duplicates,
        "integrity_ok": result.integrity_ok, "label_column": result.label_column,
        "personal_data_columns": {column: sorted(kinds) for column, kinds in result.pii.items()},
        "cardholder_data": result.cardholder_data,
        "drifted_columns": sorted(
            column for column, info in ((result.drift or {}).get("columns") or {}).items()
            if info.get("psi", 0) >= 0.1 or info.get("ks", 0) >= 0.1
        ),
        "compared_with_version": previous.version if previous and result.drift else None,
    }

    def on_success(finished: EvaluationRun) -> None:
        changed = apply_data_categories(finished, personal=result.personal_data, cardholder=result.cardholder_data,
                                        columns=pii_columns)
        if changed:
            finished.summary["inventory_updated"] = changed
            EvaluationRun.objects.filter(pk=finished.pk).update(summary=finished.summary)

    return RunOutcome(findings=findings, summary=summary, report=report, tool_versions=result.tool_versions,
                      inputs={"sha256_scanned": result.sha256,
                              "previous_version_id": previous.pk if previous else None},
                      on_success=on_success)


def _model_evaluation(name: str):
    # The fairness and robustness runners import numpy, pandas and the model runtimes: loaded on first use.
    def runner(run: EvaluationRun, ctx: RunContext) -> RunOutcome:
        from assessments.evaluations import model_runners

        return getattr(model_runners, name)(run, ctx)
    return runner


RUNNERS = {
    RunKind.ARTIFACT_SCAN: run_artifact_scan,
    RunKind.DATASET_SCAN: run_dataset_scan,
    RunKind.FAIRNESS: _model_evaluation("run_fairness"),
    RunKind.ROBUSTNESS: _model_evaluation("run_robustness"),
}
