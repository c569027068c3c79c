"""The demo seed leaves two versions waiting for review: the risk manager's queue is not empty on a fresh
install, the biased classifier's fairness failure is listed, the gate denies both, and seeding again
changes nothing."""

import pytest
from django.core import mail

from assessments.approvals import gate
from assessments.approvals.demo import seed_demo_approvals
from assessments.approvals.selectors import approval_queue
from assessments.demo import seed_demo_assessments
from assessments.evaluations.demo import seed_demo_evaluations
from assessments.models import LifecycleEvent
from governance.demo import seed_demo
from governance.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(django_capture_on_commit_callbacks):
    from django.core.management import call_command

    call_command("load_catalog", verbosity=0)
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()
        seed_demo_evaluations()
        seed_demo_assessments()


def test_the_demo_versions_wait_for_review_and_the_gate_denies_them(demo, django_capture_on_commit_callbacks):
    from django.contrib.auth import get_user_model

    with django_capture_on_commit_callbacks(execute=True):
        submitted = seed_demo_approvals()
    assert sorted(f"{v.model.name} {v.version}" for v in submitted) == [
        "Credit risk scorer 1.1.0", "Loan approval classifier 1.0.0"]
    risk = get_user_model().objects.get(username="risk")
    queue = approval_queue(user=risk)
    assert {row["version"].pk for row in queue["waiting_for_me"]} == {v.pk for v in submitted}
    assert any(m.to == ["dpo@acme.example"] for m in mail.outbox)  # the reviewers were told

    classifier = next(v for v in submitted if v.model.name == "Loan approval classifier")
    answer = gate.gate_decision(sha256=classifier.artifact_sha256)
    assert answer["decision"] == "deny"
    fairness = next(c for c in answer["checks"] if c["code"] == "fairness")
    assert not fairness["ok"] and "verdict fail" in fairness["detail"]

    with django_capture_on_commit_callbacks(execute=True):
        assert seed_demo_approvals() == []
    assert LifecycleEvent.objects.filter(action="submit").count() == 2
    assert ModelVersion.objects.filter(status="in_review").count() == 2
