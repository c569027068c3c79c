"""Builders for approval and gate tests: a version with every precondition met, and each way to break one.

Plain functions (not fixtures) so that the browser test and the benchmark can use them too. Runs are
created as finished records with the summary their runners write (``assessments/evaluations/runners.py``
for artifact scans; fairness and robustness carry ``"verdict": "pass"|"warn"|"fail"``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

from django.utils import timezone

from assessments.models import (
    Assessment,
    AssessmentKind,
    AssessmentStatus,
    EvaluationRun,
    Risk,
    RiskMatrix,
    RunKind,
    RunStatus,
)
from tests.factories import ModelVersionFactory, RoleGrantFactory, UserFactory

_counter = itertools.count(1)

LEVELS = {
    "likelihood": [{"id": "low", "name": "Low"}, {"id": "high", "name": "High"}],
    "impact": [{"id": "low", "name": "Low"}, {"id": "high", "name": "High"}],
    "risk": [{"id": "low", "name": "Low", "colour": "#1A7F37", "text_colour": "#FFFFFF"},
             {"id": "high", "name": "High", "colour": "#E8702A", "text_colour": "#000000"},
             {"id": "critical", "name": "Critical", "colour": "#B42318", "text_colour": "#FFFFFF"}],
}


def unique_sha256() -> str:
    return hashlib.sha256(f"artifact-{next(_counter)}-{timezone.now().timestamp()}".encode()).hexdigest()


def matrix() -> RiskMatrix:
    found = RiskMatrix.objects.filter(urn="urn:test:matrix:2x2").first()
    if found:
        return found
    return RiskMatrix.objects.create(
        urn="urn:test:matrix:2x2", name="Test 2x2", likelihood_levels=LEVELS["likelihood"],
        impact_levels=LEVELS["impact"], risk_levels=LEVELS["risk"],
        grid=[["low", "high"], ["high", "critical"]], organisation_defined=True,
    )


def dpo_person(unit, username: str = "dpo"):
    user = UserFactory(username=username)
    RoleGrantFactory(user=user, role="dpo", business_unit=unit)
    return user


def new_version(model, *, created_by=None, **fields):
    fields.setdefault("artifact_sha256", unique_sha256())
    return ModelVersionFactory(model=model, created_by=created_by or model.owner, **fields)


def run(version, kind: str, summary: dict, *, status: str = RunStatus.SUCCEEDED, minutes_ago: int = 0) -> EvaluationRun:
    finished = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return EvaluationRun.objects.create(kind=kind, model_version=version, status=status, summary=summary,
                                        started_at=finished, finished_at=finished, progress=100)


def clean_scan(version, **summary) -> EvaluationRun:
    summary = {"verdict": "clean", "blocking": False, "sha256": version.artifact_sha256, "integrity_ok": True,
               **summary}
    return run(version, RunKind.ARTIFACT_SCAN, summary)


def evaluation(version, kind: str, verdict: str = "pass", **kwargs) -> EvaluationRun:
    return run(version, kind, {"verdict": verdict}, **kwargs)


def assessment(model, kind: str, *, status: str = AssessmentStatus.SIGNED_OFF, by=None, version=None) -> Assessment:
    by = by or model.owner
    now = timezone.now()
    return Assessment.objects.create(
        kind=kind, model=model, model_version=version, title=f"{kind} of {model.name}", question_set=f"urn:test:{kind}",
        question_set_version=1, status=status, risk_matrix=matrix(), created_by=by, updated_by=by,
        completed_at=now if status != AssessmentStatus.DRAFT else None,
        signed_off_by=by if status == AssessmentStatus.SIGNED_OFF else None,
        signed_off_at=now if status == AssessmentStatus.SIGNED_OFF else None,
        current_step="scope" if status == AssessmentStatus.DRAFT else "",
    )


def risk(model, *, level: str = "high", treatment: str = "undecided", treatment_status: str = "open",
         by=None) -> Risk:
    rank = {"low": 0, "high": 1, "critical": 2}[level]
    return Risk.objects.create(
        model=model, matrix=matrix(), title=f"{level.title()} risk {next(_counter)}", inherent_likelihood="high",
        inherent_impact="high", inherent_level=level, inherent_rank=rank, treatment=treatment,
        treatment_status=treatment_status, created_by=by or model.owner,
    )


def overdue_training(user):
    from training.models import Assignment, AssignmentStatus, Module

    module, _ = Module.objects.get_or_create(
        slug="approvals-basics", defaults={"urn": "urn:test:training:basics", "title": "Security basics",
                                           "summary": "Basics."})
    return Assignment.objects.create(
        user=user, module=module, module_version=1, assigned_at=timezone.now() - dt.timedelta(days=60),
        due_date=timezone.localdate() - dt.timedelta(days=3), status=AssignmentStatus.OVERDUE,
    )


def make_ready(version) -> None:
    """Every precondition of the high tier met (a model with personal data needs the DPIA too)."""
    model = version.model
    clean_scan(version)
    evaluation(version, RunKind.FAIRNESS)
    evaluation(version, RunKind.ROBUSTNESS)
    assessment(model, AssessmentKind.THREAT_MODEL)
    if model.processes_personal_data or model.processes_health_data:
        assessment(model, AssessmentKind.DPIA)
