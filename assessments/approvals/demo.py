"""Demo approvals for `make run`: two versions waiting in the approvals queue, so that a fresh install
shows a review in progress and the gate denying what is not ready.

* the loan approval classifier 1.0.0: its fairness run finds the bias built into the demo classifier,
  so the approval page lists that failure (with a link to the run) and the gate denies it;
* the credit risk scorer 1.1.0: its threat model is signed off, but its DPIA is still a draft and it
  has no fairness or robustness evaluation yet.

Both go through ``services.version_submit`` as the ML lead would submit them, so the lifecycle
history, the audit trail and the reviewers' e-mails are the real ones. Call ``seed_demo_approvals()``
after the demo inventory, assessments and evaluations. Idempotent: a version submitted before (even
one withdrawn since) is left alone.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from assessments.approvals import services
from governance.models import ModelVersion
from governance.models.inventory import VersionStatus

ML_LEAD = "mllead"
SUBMISSIONS = [
    ("Loan approval classifier", "1.0.0", "First version for review. The fairness run flags the approval gap "
                                          "between the sexes: we would like the reviewers' view on mitigation."),
    ("Credit risk scorer", "1.1.0", "Retrained on the 2025-Q1 applications; the DPIA is being updated."),
]


def seed_demo_approvals() -> list[ModelVersion]:
    """Submit the demo versions for review that never were; returns those it submitted."""
    lead = get_user_model().objects.filter(username=ML_LEAD).first()
    if lead is None:
        return []
    submitted = []
    for model_name, version_name, note in SUBMISSIONS:
        version = (ModelVersion.objects.select_related("model")
                   .filter(model__name=model_name, version=version_name, status=VersionStatus.DRAFT, review_cycle=0)
                   .first())
        if version is not None:
            submitted.append(services.version_submit(actor=lead, version=version, note=note))
    return submitted
