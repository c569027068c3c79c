"""The demo seed gives a fresh install a real classifier with real, non-trivial fairness and robustness
results, and running it again changes nothing."""

import pytest

from assessments.evaluations.demo import MODEL_NAME, seed_demo_evaluations
from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.demo import seed_demo
from governance.models import MLModel

pytestmark = pytest.mark.django_db


def test_the_demo_classifier_is_evaluated_with_real_results(django_capture_on_commit_callbacks):
    seed_demo()
    with django_capture_on_commit_callbacks(execute=True):
        model = seed_demo_evaluations()
    assert model.name == MODEL_NAME and model.risk_tier == "high"
    assert sorted(model.versions.values_list("artifact_format", flat=True)) == ["onnx", "skops"]
    fairness = EvaluationRun.objects.get(kind=RunKind.FAIRNESS, model_version__model=model)
    robustness = EvaluationRun.objects.get(kind=RunKind.ROBUSTNESS, model_version__model=model)
    assert fairness.status == robustness.status == RunStatus.SUCCEEDED, (fairness.error, robustness.error)
    # The built-in bias fails a high-risk model on demographic parity between the sexes.
    assert fairness.report["groupings"][0]["metrics"]["demographic_parity_difference"]["status"] == "fail"
    assert fairness.summary["verdict"] == "fail" and fairness.report["prediction"]["source"] == "model"
    curve = [point["accuracy"] for point in robustness.report["curve"]]
    assert curve[0] > curve[-1]  # accuracy falls as the noise grows
    assert robustness.report["attack"]["attacked"] > 0

    with django_capture_on_commit_callbacks(execute=True):
        assert seed_demo_evaluations() is None
    assert MLModel.objects.filter(name=MODEL_NAME).count() == 1
    assert EvaluationRun.objects.filter(kind__in=[RunKind.FAIRNESS, RunKind.ROBUSTNESS]).count() == 2
