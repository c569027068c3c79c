"""Lifecycle services: who may move a version, in what order, with what preconditions; all audited."""

import pytest
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.test import override_settings

from assessments.approvals import services
from assessments.approvals.checks import version_checks
from assessments.approvals.policy import approval_policy, required_roles
from assessments.models import LifecycleAction, LifecycleEvent, RunKind, SignOff
from governance.models import AuditEntry
from tests.assessments.approvals.builders import (
    clean_scan,
    dpo_person,
    evaluation,
    make_ready,
    new_version,
    risk,
)
from tests.factories import MLModelFactory, RoleGrantFactory, UserFactory

pytestmark = pytest.mark.django_db


def approve(version, *signers):
    services.version_submit(actor=version.created_by, version=version)
    for signer in signers:
        version = services.version_sign_off(actor=signer, version=version)
    return version


def test_submit_starts_a_review_and_is_audited(ready_version, ml_lead):
    version = services.version_submit(actor=ml_lead, version=ready_version, note="Ready for review")
    version.refresh_from_db()
    assert (version.status, version.review_cycle) == ("in_review", 1)
    event = LifecycleEvent.objects.get(model_version=version)
    assert (event.action, event.from_status, event.to_status, event.reason) == ("submit", "draft", "in_review",
                                                                                  "Ready for review")
    assert {check["code"] for check in event.checks} >= {"artifact_scan", "fairness", "robustness", "threat_model"}
    entry = AuditEntry.objects.filter(object_type="governance.ModelVersion", object_id=str(version.pk)).last()
    assert entry.changes["status"] == ["draft", "in_review"] and entry.changes["lifecycle_action"] == "submit"


def test_high_tier_needs_the_risk_manager_and_the_dpo(ready_version, risk_manager, dpo):
    assert required_roles(ready_version.model) == ["risk_manager", "dpo"]
    services.version_submit(actor=ready_version.created_by, version=ready_version)
    version = services.version_sign_off(actor=risk_manager, version=ready_version, note="Looks right")
    assert version.status == "in_review"
    version = services.version_sign_off(actor=dpo, version=version)
    version.refresh_from_db()
    assert version.status == "approved"
    actions = list(LifecycleEvent.objects.filter(model_version=version).order_by("at", "id").values_list("action",
                                                                                                        flat=True))
    assert actions == ["submit", "sign_off", "sign_off", "approve"]
    assert AuditEntry.objects.filter(object_id=str(version.pk), changes__sign_off="dpo").exists()


def test_the_registrant_can_never_approve(high_model, risk_manager, dpo, retail):
    version = new_version(high_model, created_by=risk_manager)
    make_ready(version)
    RoleGrantFactory(user=risk_manager, role="ml_lead", business_unit=retail)
    services.version_submit(actor=risk_manager, version=version)
    with pytest.raises(PermissionDenied, match="registered this version"):
        services.version_sign_off(actor=risk_manager, version=version)
    with pytest.raises(PermissionDenied):
        services.version_reject(actor=risk_manager, version=version, reason="no")
    assert not SignOff.objects.exists()


def test_one_person_cannot_fill_two_roles(ready_version, retail):
    both = UserFactory(username="both")
    RoleGrantFactory(user=both, role="risk_manager", business_unit=retail)
    RoleGrantFactory(user=both, role="dpo", business_unit=retail)
    services.version_submit(actor=ready_version.created_by, version=ready_version)
    services.version_sign_off(actor=both, version=ready_version, role="risk_manager")
    with pytest.raises(ValidationError, match="already signed"):
        services.version_sign_off(actor=both, version=ready_version, role="dpo")
    ready_version.refresh_from_db()
    assert ready_version.status == "in_review"


@pytest.mark.parametrize("who", ["ml_lead", "auditor", "outsider"])
def test_people_without_a_signing_role_cannot_sign(request, ready_version, who):
    services.version_submit(actor=ready_version.created_by, version=ready_version)
    with pytest.raises(PermissionDenied):
        services.version_sign_off(actor=request.getfixturevalue(who), version=ready_version)


def test_a_role_on_a_parent_unit_counts(ready_version, acme):
    head_dpo = dpo_person(acme, "head-dpo")
    assert services.signable_roles(head_dpo, ready_version) == ["dpo"]


def test_sign_off_is_refused_while_a_precondition_is_unmet(version, risk_manager):
    clean_scan(version)
    services.version_submit(actor=version.created_by, version=version)
    with pytest.raises(ValidationError) as error:
        services.version_sign_off(actor=risk_manager, version=version)
    assert "Fairness evaluation" in str(error.value) and "Signed-off threat model" in str(error.value)
    assert not SignOff.objects.exists()


def test_reject_sends_back_to_draft_and_a_new_review_needs_fresh_sign_offs(ready_version, risk_manager, dpo):
    services.version_submit(actor=ready_version.created_by, version=ready_version)
    services.version_sign_off(actor=risk_manager, version=ready_version)
    with pytest.raises(ValidationError):
        services.version_reject(actor=dpo, version=ready_version, reason="  ")
    version = services.version_reject(actor=dpo, version=ready_version, reason="DPIA misses the retention period")
    version.refresh_from_db()
    assert version.status == "draft"
    assert LifecycleEvent.objects.get(action="reject").reason.endswith("DPIA misses the retention period")
    version = services.version_submit(actor=version.created_by, version=version)
    assert version.review_cycle == 2
    assert services.missing_roles(version) == ["risk_manager", "dpo"]


def test_deploy_supersedes_and_rollback_restores_the_earlier_version(high_model, ml_lead, risk_manager, dpo):
    first, second = new_version(high_model, version="1.0"), new_version(high_model, version="2.0")
    for version in (first, second):
        make_ready(version)
        approve(version, risk_manager, dpo)
    services.version_deploy(actor=ml_lead, version=first)
    services.version_deploy(actor=ml_lead, version=second, note="Better recall")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("approved", "deployed")
    assert services.rollback_candidates(second) == [first]

    with pytest.raises(ValidationError):
        services.version_rollback(actor=ml_lead, version=second, reason="")
    restored = services.version_rollback(actor=risk_manager, version=second, reason="Complaints about 2.0 refusals")
    first.refresh_from_db()
    second.refresh_from_db()
    assert restored == first
    assert (first.status, second.status) == ("deployed", "retired")
    rollback = LifecycleEvent.objects.get(action=LifecycleAction.ROLLBACK)
    assert rollback.model_version == second and rollback.related_version == first
    assert rollback.reason == "Complaints about 2.0 refusals"
    assert LifecycleEvent.objects.get(action=LifecycleAction.RESTORE).model_version == first
    assert AuditEntry.objects.filter(changes__lifecycle_action="rollback", object_id=str(second.pk)).exists()


def test_rollback_without_an_earlier_version_is_refused(ready_version, ml_lead, risk_manager, dpo):
    approve(ready_version, risk_manager, dpo)
    services.version_deploy(actor=ml_lead, version=ready_version)
    with pytest.raises(ValidationError, match="no earlier approved version"):
        services.version_rollback(actor=ml_lead, version=ready_version, reason="bad")


def test_deploy_is_refused_when_a_precondition_broke_after_approval(ready_version, ml_lead, risk_manager, dpo):
    approve(ready_version, risk_manager, dpo)
    risk(ready_version.model, level="critical")
    with pytest.raises(ValidationError, match="No open critical or high risk"):
        services.version_deploy(actor=ml_lead, version=ready_version)
    ready_version.refresh_from_db()
    assert ready_version.status == "approved"


def test_transitions_from_the_wrong_state_are_refused(ready_version, ml_lead):
    with pytest.raises(ValidationError, match="is draft now"):
        services.version_deploy(actor=ml_lead, version=ready_version)
    with pytest.raises(ValidationError):
        services.version_withdraw(actor=ml_lead, version=ready_version)
    assert not LifecycleEvent.objects.exists()


def test_read_only_people_cannot_move_a_version(ready_version, auditor, dpo):
    for action in (services.version_submit, services.version_deploy):
        with pytest.raises(PermissionDenied):
            action(actor=auditor, version=ready_version)
    with pytest.raises(PermissionDenied):
        services.version_retire(actor=dpo, version=ready_version, reason="no")


def test_retire_needs_a_reason_and_is_final(ready_version, ml_lead):
    with pytest.raises(ValidationError):
        services.version_retire(actor=ml_lead, version=ready_version, reason="")
    services.version_retire(actor=ml_lead, version=ready_version, reason="Replaced by the new scorer")
    ready_version.refresh_from_db()
    assert ready_version.status == "retired"
    with pytest.raises(ValidationError):
        services.version_submit(actor=ml_lead, version=ready_version)


def test_withdraw_returns_to_draft(ready_version, ml_lead):
    services.version_submit(actor=ml_lead, version=ready_version)
    services.version_withdraw(actor=ml_lead, version=ready_version, reason="Found a bug")
    ready_version.refresh_from_db()
    assert ready_version.status == "draft"


# --- policy as data -------------------------------------------------------------------------------------------------

def test_lower_tiers_need_fewer_things(retail, ml_lead):
    model = MLModelFactory(business_unit=retail, owner=ml_lead, risk_tier="minimal")
    version = new_version(model)
    codes = {check.code for check in version_checks(version)}
    assert codes == {"artifact_scan", "threat_model", "risks", "training"}
    assert required_roles(model) == ["risk_manager"]
    model.processes_health_data = True
    assert required_roles(model) == ["risk_manager", "dpo"]


@override_settings(WARDEN_APPROVAL_POLICY={"limited": {"robustness": "pass", "sign_offs": ["risk_manager", "admin"]}})
def test_settings_override_a_tier(retail, ml_lead):
    model = MLModelFactory(business_unit=retail, owner=ml_lead, risk_tier="limited")
    version = new_version(model)
    evaluation(version, RunKind.ROBUSTNESS, "warn")
    check = {c.code: c for c in version_checks(version)}["robustness"]
    assert not check.ok and "requires pass" in check.detail
    assert required_roles(model) == ["risk_manager", "admin"]


@pytest.mark.parametrize("override, named", [
    ({"high": {"sign_offs": ["pope"]}}, "sign_offs"),
    ({"high": {"fairness": "maybe"}}, "fairness"),
    ({"high": {"colour": "red"}}, "colour"),
    ({"high": {"monitoring": {"psi": -1}}}, "monitoring"),
    ({"galactic": {}}, "keyed by risk tier"),
    ({"minimal": {"sign_offs": []}}, "sign_offs"),
])
def test_a_bad_policy_fails_loudly(override, named):
    with override_settings(WARDEN_APPROVAL_POLICY=override), pytest.raises(ImproperlyConfigured, match=named):
        approval_policy()


def test_the_system_check_names_a_bad_policy_and_an_unusable_signing_key(tmp_path):
    from assessments.approvals.policy import approval_settings_check

    assert approval_settings_check() == []
    with override_settings(WARDEN_APPROVAL_POLICY={"high": {"fairness": "maybe"}},
                           WARDEN_GATE_KEY_FILE=str(tmp_path / "missing.pem")):
        found = {error.id: error.msg for error in approval_settings_check()}
    assert "fairness" in found["assessments.E801"] and "missing.pem" in found["assessments.E802"]


def test_submitting_emails_the_people_who_sign(ready_version, ml_lead, risk_manager, dpo, auditor,
                                               django_capture_on_commit_callbacks):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        services.version_submit(actor=ml_lead, version=ready_version)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([risk_manager.email, dpo.email])
    body = next(m for m in mail.outbox if m.to == [dpo.email]).body
    assert "data-protection officer" in body and f"/versions/{ready_version.pk}/approval/" in body


def test_no_email_once_the_review_is_over(ready_version, ml_lead):
    from django.core import mail

    from assessments.approvals.tasks import notify_review_requested

    services.version_submit(actor=ml_lead, version=ready_version)
    services.version_withdraw(actor=ml_lead, version=ready_version)
    assert notify_review_requested(ready_version.pk, 1) == 0 and not mail.outbox
