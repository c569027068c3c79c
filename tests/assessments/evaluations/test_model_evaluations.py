"""Fairness and robustness as evaluation runs: options checked before queuing, the demo classifier
evaluated from its skops and ONNX files and from a predictions column, repeatable robustness, and
every data or model problem a readable failure on the run."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from assessments.evaluations import runs
from assessments.evaluations.fairness import evaluate_fairness
from assessments.evaluations.threshold_policy import check_threshold_policy
from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.models import AuditEntry, EvidenceRevision
from governance.services import inventory
from tests.assessments.evaluations.conftest import demo_file as _file
from tests.assessments.evaluations.conftest import upload_dataset_version

pytestmark = pytest.mark.django_db


def fairness_options(data, **changes) -> dict:
    return {"dataset_version": data.pk, "target": "approved", "sensitive": ["sex", "age_band"], **changes}


def start_and_run(kind, version, actor, options, capture) -> EvaluationRun:
    with capture(execute=True):
        run = runs.run_start(kind=kind, target=version, actor=actor, options=options)
    run.refresh_from_db()
    return run


# --- fairness -------------------------------------------------------------------------------------------------

def test_fairness_run_scores_the_skops_model_and_finds_the_built_in_bias(
        ml_lead, skops_version, evaluation_data, demo, django_capture_on_commit_callbacks):
    run = start_and_run(RunKind.FAIRNESS, skops_version, ml_lead, fairness_options(evaluation_data),
                        django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.report["prediction"]["source"] == "model"
    assert [g["name"] for g in run.report["groupings"]] == ["sex", "age_band", "sex × age_band"]
    # The demo's historical approvals penalise women: demographic parity between sexes is not a pass.
    sex = run.report["groupings"][0]
    assert sex["metrics"]["demographic_parity_difference"]["status"] in ("warn", "fail")
    assert run.summary["verdict"] == run.report["status"] in ("warn", "fail")
    assert run.inputs["dataset_sha256"] == evaluation_data.sha256
    assert run.inputs["sha256_evaluated"] == skops_version.artifact_sha256
    assert "scikit-learn" in run.tool_versions and "skops" in run.tool_versions
    assert any(f.rule_id == "fairness.demographic_parity_difference" for f in run.findings.all())
    assert EvidenceRevision.objects.filter(item__source_key=f"run:{run.pk}").count() == 1


def test_fairness_from_a_predictions_column_matches_the_library_on_the_same_rows(
        ml_lead, pickle_version, evaluation_data, demo, django_capture_on_commit_callbacks):
    options = fairness_options(evaluation_data, prediction="model_prediction")
    run = start_and_run(RunKind.FAIRNESS, pickle_version, ml_lead, options, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED, run.error
    frame = pd.read_csv(io.BytesIO(_file(demo, "evaluation_csv")))
    direct = evaluate_fairness(frame, target="approved", sensitive=["sex", "age_band"], prediction="model_prediction",
                               risk_tier=pickle_version.model.risk_tier)
    assert run.report["groupings"] == direct["groupings"]
    assert run.report["metrics"] == direct["metrics"]


def test_a_pickled_model_is_never_executed_so_a_predictions_column_is_required(ml_lead, pickle_version,
                                                                               evaluation_data):
    with pytest.raises(ValidationError) as caught:
        runs.run_start(kind=RunKind.FAIRNESS, target=pickle_version, actor=ml_lead,
                       options=fairness_options(evaluation_data))
    assert "never executes" in caught.value.message_dict["prediction"][0]
    with pytest.raises(ValidationError) as caught:
        runs.run_start(kind=RunKind.ROBUSTNESS, target=pickle_version, actor=ml_lead,
                       options={"dataset_version": evaluation_data.pk, "target": "approved"})
    assert "skops or ONNX" in caught.value.message_dict["model_version"][0]
    assert not EvaluationRun.objects.filter(kind__in=[RunKind.FAIRNESS, RunKind.ROBUSTNESS]).exists()


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"target": "outcome"}, "target", "'outcome' is not a column"),
    ({"target": ""}, "target", "required"),
    ({"sensitive": []}, "sensitive", "at least one sensitive column"),
    ({"sensitive": ["gender"]}, "sensitive", "'gender' is not a column"),
    ({"sensitive": ["approved"]}, "sensitive", "cannot also be a sensitive column"),
    ({"sensitive": ["sex", "age_band", "occupation", "employment_type", "age"]}, "sensitive", "at most 4"),
    ({"prediction": "approved"}, "prediction", "must differ"),
    ({"dataset_version": "x"}, "dataset_version", "Choose the evaluation data"),
    ({"dataset_version": 999_999}, "dataset_version", "No such dataset version"),
    ({"task": "ranking"}, "task", "classification or regression"),
    ({"min_group_size": 0}, "min_group_size", "from 1"),
    ({"target": "a\x00b"}, "target", "not a column name"),
    ({"target": "x" * 500}, "target", "not a column name"),
])
def test_bad_options_are_refused_with_the_field_named_and_nothing_saved(
        ml_lead, skops_version, evaluation_data, changes, field, message):
    audit_before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        runs.run_start(kind=RunKind.FAIRNESS, target=skops_version, actor=ml_lead,
                       options=fairness_options(evaluation_data, **changes))
    assert message in " ".join(caught.value.message_dict[field])
    assert not EvaluationRun.objects.filter(kind=RunKind.FAIRNESS).exists()
    assert AuditEntry.objects.count() == audit_before


def test_a_dataset_the_user_cannot_see_is_no_such_dataset(ml_lead, outsider, research, skops_version, demo):
    hidden = inventory.dataset_register(actor=outsider, business_unit=research, name="Research data")
    hidden_version = upload_dataset_version(outsider, hidden, _file(demo, "evaluation_csv"))
    with pytest.raises(ValidationError) as caught:
        runs.run_start(kind=RunKind.FAIRNESS, target=skops_version, actor=ml_lead,
                       options=fairness_options(hidden_version))
    assert caught.value.message_dict["dataset_version"] == ["No such dataset version."]


def test_readers_cannot_start_evaluations(auditor, skops_version, evaluation_data):
    with pytest.raises(PermissionDenied):
        runs.run_start(kind=RunKind.FAIRNESS, target=skops_version, actor=auditor,
                       options=fairness_options(evaluation_data))


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.mark.parametrize(("change", "options", "message"), [
    (lambda f: f.assign(approved=np.arange(len(f)) % 3), {}, "values"),
    (lambda f: f.assign(approved=f["approved"].astype(float).where(f.index % 7 != 0)), {}, "missing"),
    (lambda f: f.drop(columns=["income"]), {}, "'income'"),
    # One group per row, more rows than the group cap: refused before anything is counted.
    (lambda f: pd.concat([f] * 3, ignore_index=True).pipe(lambda g: g.assign(sex=[f"p{i}" for i in range(len(g))])),
     {"min_group_size": 1}, "distinct"),
])
def test_data_problems_fail_the_run_with_a_readable_reason(
        ml_lead, skops_version, dataset, demo, change, options, message, django_capture_on_commit_callbacks):
    frame = change(pd.read_csv(io.BytesIO(_file(demo, "evaluation_csv"))))
    data = upload_dataset_version(ml_lead, dataset, _csv(frame), version="bad", name="bad.csv")
    run = start_and_run(RunKind.FAIRNESS, skops_version, ml_lead, fairness_options(data, sensitive=["sex"], **options),
                        django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED
    assert message in run.error and "Traceback" not in run.error
    assert "unexpected error" not in run.error


def test_an_altered_artifact_is_not_executed(ml_lead, skops_version, evaluation_data,
                                             django_capture_on_commit_callbacks):
    type(skops_version).objects.filter(pk=skops_version.pk).update(artifact_sha256="0" * 64)
    skops_version.refresh_from_db()
    run = start_and_run(RunKind.FAIRNESS, skops_version, ml_lead, fairness_options(evaluation_data),
                        django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED and "no longer matches the SHA-256" in run.error


# --- robustness -----------------------------------------------------------------------------------------------

def robustness_options(data, **changes) -> dict:
    return {"dataset_version": data.pk, "target": "approved", "seed": 7, "sample_size": 500, **changes}


def test_robustness_runs_on_onnx_and_repeats_exactly_from_its_seed(
        ml_lead, onnx_version, evaluation_data, django_capture_on_commit_callbacks):
    first = start_and_run(RunKind.ROBUSTNESS, onnx_version, ml_lead, robustness_options(evaluation_data),
                          django_capture_on_commit_callbacks)
    assert first.status == RunStatus.SUCCEEDED, first.error
    second = runs.run_rerun(actor=ml_lead, run=first)
    runs.run_execute(run_id=second.pk)
    second.refresh_from_db()
    assert second.status == RunStatus.SUCCEEDED
    assert second.inputs["options"]["seed"] == 7 == first.summary["seed"]
    assert second.report["curve"] == first.report["curve"]
    assert second.report["metrics"] == first.report["metrics"]
    assert second.report["attack"]["success_rate"] == first.report["attack"]["success_rate"]
    assert first.summary["verdict"] in ("pass", "warn", "fail")
    assert first.report["baseline"]["accuracy"] > 0.6


def test_robustness_of_a_model_that_reads_other_columns_fails_readably(
        ml_lead, onnx_version, dataset, demo, django_capture_on_commit_callbacks):
    frame = pd.read_csv(io.BytesIO(_file(demo, "evaluation_csv"))).rename(columns={"credit_score": "score"})
    data = upload_dataset_version(ml_lead, dataset, _csv(frame), version="renamed", name="renamed.csv")
    run = start_and_run(RunKind.ROBUSTNESS, onnx_version, ml_lead, robustness_options(data),
                        django_capture_on_commit_callbacks)
    assert run.status == RunStatus.FAILED and "'credit_score'" in run.error


@pytest.mark.parametrize(("changes", "field"), [({"seed": -1}, "seed"), ({"seed": "abc"}, "seed"),
                                                ({"sample_size": 50}, "sample_size"), ({"seed": 2**40}, "seed")])
def test_bad_robustness_options(ml_lead, onnx_version, evaluation_data, changes, field):
    with pytest.raises(ValidationError) as caught:
        runs.run_start(kind=RunKind.ROBUSTNESS, target=onnx_version, actor=ml_lead,
                       options=robustness_options(evaluation_data, **changes))
    assert field in caught.value.message_dict


# --- the organisation's thresholds ----------------------------------------------------------------------------

def test_the_organisations_thresholds_are_applied_and_recorded(
        tmp_path, ml_lead, pickle_version, evaluation_data, django_capture_on_commit_callbacks):
    policy = tmp_path / "thresholds.yaml"
    policy.write_text("fairness:\n  minimal:\n    demographic_parity_difference: {pass: 0.9, warn: 0.95}\n")
    with override_settings(WARDEN_EVALUATION_THRESHOLDS_FILE=str(policy)):
        assert check_threshold_policy() == []
        run = start_and_run(RunKind.FAIRNESS, pickle_version, ml_lead,
                            fairness_options(evaluation_data, prediction="model_prediction"),
                            django_capture_on_commit_callbacks)
    assert run.report["thresholds"]["demographic_parity_difference"]["pass"] == 0.9
    assert run.report["groupings"][0]["metrics"]["demographic_parity_difference"]["status"] == "pass"


@pytest.mark.parametrize("content", ["fairness:\n  minimal:\n    no_such_metric: {pass: 1, warn: 2}\n",
                                     "fairness: [\n", "speed: {}\n",
                                     "robustness:\n  high:\n    noise_accuracy_drop: {pass: 0.5, warn: 0.1}\n"])
def test_a_bad_thresholds_file_stops_the_deployment_at_the_system_check(tmp_path, content):
    policy = tmp_path / "thresholds.yaml"
    policy.write_text(content)
    with override_settings(WARDEN_EVALUATION_THRESHOLDS_FILE=str(policy)):
        errors = check_threshold_policy()
    assert [error.id for error in errors] == ["assessments.E910"]


def test_all_predictions_one_class_is_a_result_with_undefined_ratios_not_a_crash(
        ml_lead, pickle_version, dataset, demo, django_capture_on_commit_callbacks):
    frame = pd.read_csv(io.BytesIO(_file(demo, "evaluation_csv"))).assign(model_prediction=0)
    data = upload_dataset_version(ml_lead, dataset, _csv(frame), version="all-no", name="all_no.csv")
    run = start_and_run(RunKind.FAIRNESS, pickle_version, ml_lead,
                        fairness_options(data, sensitive=["sex"], prediction="model_prediction"),
                        django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.report["groupings"][0]["metrics"]["disparate_impact_ratio"]["status"] == "undefined"
    assert run.summary["verdict"] in ("warn", "fail")


def test_an_erased_dataset_version_cannot_be_evaluated(ml_lead, admin_user, pickle_version, evaluation_data):
    from governance.retention.services import dataset_version_erase

    dataset_version_erase(actor=admin_user, version=evaluation_data, reason="The retention period is over.")
    with pytest.raises(ValidationError) as caught:
        runs.run_start(kind=RunKind.FAIRNESS, target=pickle_version, actor=ml_lead,
                       options=fairness_options(evaluation_data, prediction="model_prediction"))
    assert "was erased" in caught.value.message_dict["dataset_version"][0]
