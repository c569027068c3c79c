"""The SQL reads in ``assessments.approvals.facts`` answer exactly what the querysets they stand for answer.

Each test builds rows that each clause of the statement must tell apart, then compares the read with
the ORM queryset written the plain way. The suite runs on SQLite locally and on PostgreSQL in CI, so
both dialects are held to it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Q
from django.utils import timezone

from assessments.approvals import facts
from assessments.models import (
    Assessment,
    AssessmentKind,
    AssessmentStatus,
    EvaluationRun,
    LifecycleAction,
    LifecycleEvent,
    Risk,
    RunKind,
    RunStatus,
    SignOff,
    Treatment,
    TreatmentStatus,
)
from tests.assessments.approvals.builders import assessment, new_version, risk, run
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
KINDS = [RunKind.ARTIFACT_SCAN, RunKind.FAIRNESS, RunKind.ROBUSTNESS]


def test_latest_runs_takes_the_newest_successful_run_of_each_kind(version, high_model):
    other = new_version(high_model)
    run(version, RunKind.ARTIFACT_SCAN, {"verdict": "malicious"}, minutes_ago=30)
    newest_scan = run(version, RunKind.ARTIFACT_SCAN, {"verdict": "clean", "note": "ünïcode ‘quoted’ %s"},
                      minutes_ago=10)
    run(version, RunKind.ARTIFACT_SCAN, {"verdict": "clean"}, status=RunStatus.FAILED, minutes_ago=1)
    run(other, RunKind.ARTIFACT_SCAN, {"verdict": "clean"})  # another version's
    fairness = run(version, RunKind.FAIRNESS, {"verdict": "warn"}, minutes_ago=5)
    EvaluationRun.objects.filter(pk=fairness.pk).update(inputs={"sha256_scanned": "abc"})

    read = facts.latest_runs(version.pk, KINDS)

    expected = {}
    for found in (EvaluationRun.objects.filter(model_version=version, kind__in=KINDS, status=RunStatus.SUCCEEDED)
                  .order_by("-finished_at", "-id")):
        expected.setdefault(found.kind, (found.pk, found.kind, found.summary, found.inputs))
    assert {kind: tuple(row) for kind, row in read.items()} == expected
    assert read[RunKind.ARTIFACT_SCAN].pk == newest_scan.pk
    assert read[RunKind.FAIRNESS].inputs == {"sha256_scanned": "abc"}
    assert RunKind.ROBUSTNESS not in read


def test_latest_runs_reads_only_the_kinds_asked_for(version):
    run(version, RunKind.FAIRNESS, {"verdict": "pass"})
    assert facts.latest_runs(version.pk, [RunKind.ARTIFACT_SCAN]) == {}


def test_assessments_match_the_queryset_in_order_and_value(version, high_model, ml_lead):
    other_version = new_version(high_model)
    assessment(high_model, AssessmentKind.THREAT_MODEL, status=AssessmentStatus.DRAFT)
    assessment(high_model, AssessmentKind.THREAT_MODEL)
    assessment(high_model, AssessmentKind.DPIA, status=AssessmentStatus.COMPLETED, version=version)
    assessment(high_model, AssessmentKind.DPIA, version=other_version)  # about another version: not this one's
    kinds = [AssessmentKind.THREAT_MODEL, AssessmentKind.DPIA]

    read = facts.assessments(high_model.pk, version.pk, kinds)

    expected = list(
        Assessment.objects.filter(model_id=high_model.pk, kind__in=kinds)
        .filter(Q(model_version__isnull=True) | Q(model_version_id=version.pk))
        .order_by("-signed_off_at", "-updated_at", "-id")
        .values("id", "kind", "status", "signed_off_at", "current_step")
    )
    assert read == expected
    assert len(read) == 3
    signed = [row for row in read if row["status"] == AssessmentStatus.SIGNED_OFF]
    assert signed[0]["signed_off_at"].tzinfo is not None


@pytest.mark.parametrize("level, treatment, status, blocks", [
    ("high", Treatment.MITIGATE, TreatmentStatus.OPEN, True),
    ("critical", "undecided", TreatmentStatus.OPEN, True),
    ("high", Treatment.ACCEPT, TreatmentStatus.OPEN, False),
    ("high", Treatment.MITIGATE, TreatmentStatus.DONE, False),
    ("low", "undecided", TreatmentStatus.OPEN, False),
])
def test_blocking_risks_match_the_queryset(high_model, level, treatment, status, blocks):
    made = risk(high_model, level=level, treatment=treatment, treatment_status=status)
    read = facts.blocking_risks(high_model.pk, ["high", "critical"], limit=6)
    expected = list(
        Risk.objects.filter(model_id=high_model.pk, inherent_level__in=["high", "critical"])
        .exclude(treatment=Treatment.ACCEPT).exclude(treatment_status=TreatmentStatus.DONE)
        .order_by("-inherent_rank", "id").values_list("id", "title")[:6]
    )
    assert read == expected
    assert ((made.pk, made.title) in read) is blocks


def test_blocking_risks_come_worst_first_and_stop_at_the_limit(high_model, retail, ml_lead):
    from tests.factories import MLModelFactory

    for _ in range(4):
        risk(high_model, level="high")
    critical = risk(high_model, level="critical")
    risk(MLModelFactory(business_unit=retail, owner=ml_lead), level="critical")  # another model's
    read = facts.blocking_risks(high_model.pk, ["high", "critical"], limit=3)
    assert len(read) == 3 and read[0][0] == critical.pk


def test_overdue_training_matches_the_queryset(ml_lead):
    from training.models import OPEN_STATUSES, Assignment, AssignmentStatus, Module

    today = timezone.localdate()
    someone_else = UserFactory()
    rows = [  # (user, status, days until due, current, overdue for ml_lead?)
        (ml_lead, AssignmentStatus.OVERDUE, 5, True, True),  # marked overdue by the nightly job
        (ml_lead, AssignmentStatus.ASSIGNED, -1, True, True),  # past due, still open
        (ml_lead, AssignmentStatus.IN_PROGRESS, -2, True, True),
        (ml_lead, AssignmentStatus.ASSIGNED, 0, True, False),  # due today: not yet
        (ml_lead, AssignmentStatus.COMPLETED, -9, True, False),
        (ml_lead, AssignmentStatus.OVERDUE, -9, False, False),  # an earlier cycle's
        (someone_else, AssignmentStatus.OVERDUE, -9, True, False),
    ]
    expected_titles = []
    for index, (user, status, days, current, overdue) in enumerate(rows):
        module = Module.objects.create(slug=f"m{index}", urn=f"urn:test:m{index}", title=f"Module “{index}”",
                                       summary=".")
        Assignment.objects.create(user=user, module=module, module_version=1, status=status, is_current=current,
                                  assigned_at=timezone.now() - dt.timedelta(days=30),
                                  due_date=today + dt.timedelta(days=days))
        if overdue:
            expected_titles.append(module.title)

    read = facts.overdue_training(ml_lead.pk, today, limit=5)

    queryset = list(
        Assignment.objects.filter(user_id=ml_lead.pk, is_current=True)
        .filter(Q(status=AssignmentStatus.OVERDUE) | Q(status__in=OPEN_STATUSES, due_date__lt=today))
        .select_related("module")[:5]
    )
    assert read == [found.module.title for found in queryset]
    assert sorted(read) == sorted(expected_titles)


def test_sign_offs_and_event_times_match_the_records(version, risk_manager, dpo):
    risk_manager.first_name, risk_manager.last_name = "Rita", "O'Neil"
    risk_manager.save()
    dpo.first_name = dpo.last_name = ""
    dpo.save()
    earlier = timezone.now() - dt.timedelta(hours=2)
    SignOff.objects.create(model_version=version, review_cycle=1, role="risk_manager", decision="reject",
                           signed_by=risk_manager, signed_at=earlier)
    SignOff.objects.create(model_version=version, review_cycle=2, role="dpo", decision="approve", signed_by=dpo,
                           signed_at=earlier)
    SignOff.objects.create(model_version=version, review_cycle=2, role="risk_manager", decision="approve",
                           signed_by=risk_manager, signed_at=earlier - dt.timedelta(minutes=1))
    for action, minutes_ago in ((LifecycleAction.APPROVE, 30), (LifecycleAction.DEPLOY, 20),
                                (LifecycleAction.DEPLOY, 10), (LifecycleAction.SUBMIT, 5)):
        LifecycleEvent.objects.create(model_version=version, review_cycle=2, action=action, from_status="x",
                                      to_status="y", at=timezone.now() - dt.timedelta(minutes=minutes_ago))

    read = facts.sign_offs(version.pk, 2)

    expected = [(s.role, s.decision, s.signed_by_id, s.signed_by.get_username(),
                 s.signed_by.get_full_name() or s.signed_by.get_username(), s.signed_at)
                for s in SignOff.objects.filter(model_version=version, review_cycle=2).select_related("signed_by")]
    assert [tuple(row) for row in read] == expected
    assert [row.name for row in read] == ["Rita O'Neil", dpo.username]

    actions = [LifecycleAction.APPROVE, LifecycleAction.DEPLOY, LifecycleAction.RESTORE]
    times = facts.event_times(version.pk, 2, actions)
    latest = {}
    for event in LifecycleEvent.objects.filter(model_version=version, review_cycle=2, action__in=actions) \
            .order_by("at", "id"):
        latest[event.action] = event.at
    assert times == latest and set(times) == {LifecycleAction.APPROVE, LifecycleAction.DEPLOY}
    assert facts.event_times(version.pk, 1, actions) == {}


def test_the_reads_take_their_values_as_parameters(high_model):
    hostile = "high') OR 1=1 --"
    risk(high_model, level="high")
    assert facts.blocking_risks(high_model.pk, [hostile], limit=6) == []
    assert facts.latest_runs(high_model.pk, ["%s", "'; DROP TABLE assessments_risk; --"]) == {}
    assert Risk.objects.filter(model=high_model).count() == 1


def test_an_empty_list_matches_nothing(high_model):
    risk(high_model, level="high")
    assert facts.blocking_risks(high_model.pk, [], limit=6) == []


def test_versions_with_sha256_load_what_the_gate_reads_without_further_queries(
        high_model, ml_lead, retail, django_assert_num_queries):
    from governance.models import ModelVersion
    from tests.factories import MLModelFactory, UserFactory

    registrant = UserFactory(first_name="Ada", last_name="Lovelace")
    twin_model = MLModelFactory(business_unit=retail, owner=ml_lead, risk_tier="minimal")
    first = new_version(high_model, created_by=registrant)
    ModelVersion.objects.filter(pk=first.pk).update(status="approved", status_changed_at=timezone.now())
    twin = new_version(twin_model, artifact_sha256=first.artifact_sha256)
    new_version(high_model)  # another artifact

    with django_assert_num_queries(1):
        read = facts.versions_with_sha256(first.artifact_sha256, limit=50)
        seen = [(v.pk, v.model_id, v.version, v.artifact_sha256, v.status, v.get_status_display(),
                 v.status_changed_at, v.review_cycle, v.created_at, v.created_by_id, v.created_by.get_username(),
                 v.model.name, v.model.risk_tier, v.model.get_risk_tier_display(), v.model.business_unit_id,
                 v.model.processes_personal_data, v.model.processes_health_data, v.model.owner.pk,
                 v.model.owner.get_username(), v.model.owner.get_full_name()) for v in read]

    expected = [(v.pk, v.model_id, v.version, v.artifact_sha256, v.status, v.get_status_display(),
                 v.status_changed_at, v.review_cycle, v.created_at, v.created_by_id, v.created_by.get_username(),
                 v.model.name, v.model.risk_tier, v.model.get_risk_tier_display(), v.model.business_unit_id,
                 v.model.processes_personal_data, v.model.processes_health_data, v.model.owner.pk,
                 v.model.owner.get_username(), v.model.owner.get_full_name())
                for v in ModelVersion.objects.filter(artifact_sha256=first.artifact_sha256)
                .select_related("model", "model__owner", "created_by")]
    assert seen == expected
    assert [v.pk for v in read] == [twin.pk, first.pk]  # newest first
    assert read[1].status_changed_at.tzinfo is not None and read[1].model.processes_personal_data is True
    assert read[1].created_by.get_full_name() == "Ada Lovelace"
    assert facts.versions_with_sha256(first.artifact_sha256, limit=1) == [twin]
    assert facts.versions_with_sha256("0" * 64, limit=50) == []


def test_a_field_the_gate_does_not_read_is_loaded_on_first_use(version, django_assert_num_queries):
    (read,) = facts.versions_with_sha256(version.artifact_sha256, limit=50)
    with django_assert_num_queries(1):
        assert read.artifact_name == version.artifact_name
