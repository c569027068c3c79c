"""Fairness and robustness runs: what ``runs.run_execute`` calls for these two kinds.

Both read an evaluation dataset version and, where predictions are computed, the model version's
artifact, through Django's storage API (decrypted as a stream). The artifact's bytes are checked
against the SHA-256 recorded at upload before anything is loaded: a run evaluates exactly the
version it names. Only skops (allow-listed types) and ONNX models are ever executed
(``model_loading.load_model`` refuses everything else); the runner never unpickles.

Errors in the data or the model (a missing column, three label values, NaNs, a model that reads
other columns) arrive as ``EvaluationInputError`` and become the run's readable failure.
"""

from __future__ import annotations

import hashlib
from importlib import metadata

from assessments.evaluations.model_loading import (
    EvaluationInputError,
    LoadedModel,
    ModelLoadError,
    load_model,
    read_dataset,
)
from assessments.evaluations.runners import _open
from assessments.evaluations.runs import FindingData, RunContext, RunFailure, RunOutcome
from assessments.evaluations.threshold_policy import organisation_thresholds
from assessments.models import EvaluationRun, RunKind
from governance.models import DatasetVersion, ModelVersion

# The largest artifact a worker loads into memory to execute (the scanner has no such limit: it streams).
MAX_MODEL_BYTES = 512 * 1024 * 1024
TOOLS = ("numpy", "pandas", "scikit-learn", "skops", "onnxruntime")


def _tool_versions(kind: str) -> dict:
    versions = {}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions[f"warden-{kind}"] = "1"
    return versions


def _evaluation_data(run: EvaluationRun, options: dict, ctx: RunContext, columns: list[str] | None):
    version = DatasetVersion.objects.select_related("dataset").filter(pk=options.get("dataset_version")).first()
    if version is None:
        raise RunFailure("The evaluation dataset version no longer exists. Start the run again with other data.")
    ctx.progress(3, f"Reading {version.dataset.name} {version.version}")
    with _open(version.file) as handle:
        try:
            frame = read_dataset(handle, format=version.file_format, columns=columns)
        except EvaluationInputError as exc:
            raise RunFailure(f"The evaluation data could not be read: {exc}") from None
    return version, frame


def _model(version: ModelVersion, ctx: RunContext) -> LoadedModel:
    """Load the version's artifact for execution, after checking it is the file that was registered."""
    ctx.progress(8, "Loading the model")
    with _open(version.artifact) as handle:
        data = handle.read(MAX_MODEL_BYTES + 1)
    if len(data) > MAX_MODEL_BYTES:
        raise RunFailure(f"The artifact is over {MAX_MODEL_BYTES // 2**20} MiB, too large to execute in a worker.")
    if hashlib.sha256(data).hexdigest() != version.artifact_sha256:
        raise RunFailure("The stored artifact no longer matches the SHA-256 recorded at upload, so it was not "
                         "executed. Run an artifact scan and ask an administrator to check the storage.")
    try:
        return load_model(data, format=version.artifact_format)
    except ModelLoadError as exc:
        raise RunFailure(f"The model cannot be executed: {exc}") from None


def _outcome(*, kind: str, result: dict, findings: list[dict], summary: dict, dataset: DatasetVersion,
             version: ModelVersion) -> RunOutcome:
    return RunOutcome(
        findings=[FindingData(**item) for item in findings],
        # "verdict" is what every kind's summary calls its overall answer (the approval checks read it).
        summary={**summary, "verdict": summary["status"], "dataset": str(dataset), "dataset_version": dataset.pk},
        report=result,
        tool_versions=_tool_versions(kind),
        inputs={"dataset_version_id": dataset.pk, "dataset_sha256": dataset.sha256,
                "sha256_evaluated": version.artifact_sha256},
    )


def run_fairness(run: EvaluationRun, ctx: RunContext) -> RunOutcome:
    from assessments.evaluations.fairness import evaluate_fairness, fairness_findings, fairness_summary

    version = run.model_version
    options = run.inputs.get("options") or {}
    prediction = options.get("prediction")
    # With a predictions column only the columns that matter are read; the model needs all of them.
    columns = [options["target"], prediction, *options["sensitive"]] if prediction else None
    dataset, frame = _evaluation_data(run, options, ctx, columns)
    model = None if prediction else _model(version, ctx)
    ctx.progress(12, "Computing group metrics")
    try:
        result = evaluate_fairness(
            frame, target=options["target"], sensitive=options["sensitive"], prediction=prediction, model=model,
            task=options.get("task", "classification"), min_group_size=options.get("min_group_size", 30),
            risk_tier=version.model.risk_tier, thresholds=organisation_thresholds(RunKind.FAIRNESS),
            progress=lambda fraction, message: ctx.progress(12 + 83 * fraction, message),
        )
    except EvaluationInputError as exc:
        raise RunFailure(str(exc)) from None
    ctx.progress(96, "Recording the results")
    return _outcome(kind=RunKind.FAIRNESS, result=result, findings=fairness_findings(result),
                    summary=fairness_summary(result), dataset=dataset, version=version)


def run_robustness(run: EvaluationRun, ctx: RunContext) -> RunOutcome:
    from assessments.evaluations.robustness import evaluate_robustness, robustness_findings, robustness_summary

    version = run.model_version
    options = run.inputs.get("options") or {}
    dataset, frame = _evaluation_data(run, options, ctx, None)
    model = _model(version, ctx)
    ctx.progress(12, "Measuring the baseline")
    try:
        result = evaluate_robustness(
            model, frame, target=options["target"], seed=options.get("seed", 0),
            sample_size=options.get("sample_size", 2_000), risk_tier=version.model.risk_tier,
            thresholds=organisation_thresholds(RunKind.ROBUSTNESS),
            progress=lambda fraction, message: ctx.progress(12 + 83 * fraction, message),
        )
    except EvaluationInputError as exc:
        raise RunFailure(str(exc)) from None
    ctx.progress(96, "Recording the results")
    return _outcome(kind=RunKind.ROBUSTNESS, result=result, findings=robustness_findings(result),
                    summary=robustness_summary(result), dataset=dataset, version=version)
