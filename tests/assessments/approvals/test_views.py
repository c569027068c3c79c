"""The approval page and its actions: permission ladder, bad input, the panel on the model page."""

import pytest
from django.urls import reverse

from assessments.approvals import services
from assessments.models import LifecycleEvent, SignOff
from tests.assessments.approvals.builders import risk

pytestmark = pytest.mark.django_db


def page(version):
    return reverse("version_approval", args=[version.model_id, version.pk])


def act(version, action):
    return reverse("version_lifecycle_action", args=[version.model_id, version.pk, action])


def test_anonymous_is_sent_to_log_in(client, ready_version):
    for url in (page(ready_version), act(ready_version, "submit")):
        response = client.get(url) if url == page(ready_version) else client.post(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]


def test_an_outsider_gets_404(client_for, outsider, ready_version):
    client = client_for(outsider)
    assert client.get(page(ready_version)).status_code == 404
    assert client.post(act(ready_version, "submit")).status_code == 404
    ready_version.refresh_from_db()
    assert ready_version.status == "draft"


@pytest.mark.parametrize("who", ["auditor", "dpo", "risk_manager"])
def test_read_only_roles_see_the_page_but_cannot_submit_or_deploy(request, client_for, ready_version, who):
    client = client_for(request.getfixturevalue(who))
    response = client.get(page(ready_version))
    assert response.status_code == 200
    assert b"Submit for review" not in response.content
    assert client.post(act(ready_version, "submit")).status_code == 403
    assert not LifecycleEvent.objects.exists()


def test_the_page_lists_every_precondition_with_a_link_to_its_fix(client_for, ml_lead, version):
    response = client_for(ml_lead).get(page(version))
    body = response.content.decode()
    assert response.status_code == 200
    for title in ("Clean artifact scan of this exact file", "Fairness evaluation (pass)",
                  "Robustness evaluation (pass)", "Signed-off threat model", "Signed-off DPIA",
                  "No open critical or high risk",
                  "The model owner&#x27;s training is up to date"):
        assert title in body, title
    assert f"{reverse('assessment_start')}?model={version.model_id}&amp;kind=threat_model" in body
    assert reverse("model_detail", args=[version.model_id]) + "#runs" in body
    assert "The gate answers: deny" in body
    assert f"sha256={version.artifact_sha256}" in body


def test_the_journey_through_the_pages(client_for, ready_version, ml_lead, risk_manager, dpo):
    response = client_for(ml_lead).post(act(ready_version, "submit"), {"note": "Please review"})
    assert response.status_code == 302
    response = client_for(risk_manager).get(page(ready_version))
    assert b"Approve as risk manager" in response.content
    assert b"Approve as data-protection officer" not in response.content
    assert client_for(risk_manager).post(act(ready_version, "sign-off"), {"role": "risk_manager"}).status_code == 302
    assert client_for(dpo).post(act(ready_version, "sign-off"), {"role": "dpo", "note": "DPIA fine"}).status_code == 302
    ready_version.refresh_from_db()
    assert ready_version.status == "approved"
    response = client_for(ml_lead).get(page(ready_version))
    assert b"Mark as deployed" in response.content and b"The gate answers: allow" in response.content
    assert client_for(ml_lead).post(act(ready_version, "deploy")).status_code == 302
    ready_version.refresh_from_db()
    assert ready_version.status == "deployed"
    history = client_for(ml_lead).get(page(ready_version)).content.decode()
    assert "Deployed" in history and "DPIA fine" in history


def test_a_sign_off_with_an_unmet_precondition_is_refused_on_the_page(client_for, ready_version, ml_lead,
                                                                      risk_manager):
    services.version_submit(actor=ml_lead, version=ready_version)
    risk(ready_version.model, level="critical")
    response = client_for(risk_manager).post(act(ready_version, "sign-off"), {"role": "risk_manager"})
    assert response.status_code == 400
    assert "still open: No open critical or high risk" in response.content.decode()
    assert not SignOff.objects.exists()


def test_the_registrant_is_refused_and_told_why(client_for, ready_version, ml_lead, retail):
    from tests.factories import RoleGrantFactory

    RoleGrantFactory(user=ml_lead, role="risk_manager", business_unit=retail)
    services.version_submit(actor=ml_lead, version=ready_version)
    client = client_for(ml_lead)
    assert b"You registered this version" in client.get(page(ready_version)).content
    assert client.post(act(ready_version, "sign-off"), {"role": "risk_manager"}).status_code == 403
    assert not SignOff.objects.exists()


@pytest.mark.parametrize("action, data", [
    ("retire", {"reason": ""}),
    ("retire", {"reason": "x" * 2001}),
    ("deploy", {}),
    ("rollback", {"reason": "bad", "target": "abc"}),
])
def test_bad_input_is_a_400_and_changes_nothing(client_for, ml_lead, ready_version, action, data):
    response = client_for(ml_lead).post(act(ready_version, action), data)
    assert response.status_code == 400
    assert b"That did not go through" in response.content
    ready_version.refresh_from_db()
    assert ready_version.status == "draft" and not LifecycleEvent.objects.exists()


def test_an_unknown_action_is_404_and_get_is_not_allowed(client_for, ml_lead, ready_version):
    client = client_for(ml_lead)
    assert client.post(act(ready_version, "approve-everything")).status_code == 404
    assert client.get(act(ready_version, "submit")).status_code == 405


def test_rollback_through_the_page(client_for, high_model, ml_lead, risk_manager, dpo):
    from tests.assessments.approvals.builders import make_ready, new_version

    first, second = new_version(high_model, version="1.0"), new_version(high_model, version="2.0")
    for version in (first, second):
        make_ready(version)
        services.version_submit(actor=ml_lead, version=version)
        services.version_sign_off(actor=risk_manager, version=version)
        services.version_sign_off(actor=dpo, version=version)
        services.version_deploy(actor=ml_lead, version=version)
    client = client_for(risk_manager)
    assert b"Roll back to" in client.get(page(second)).content
    response = client.post(act(second, "rollback"), {"target": first.pk, "reason": "Latency doubled"})
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("deployed", "retired")


def test_the_model_page_links_each_version_to_its_approval_and_monitoring(client_for, ml_lead, ready_version):
    body = client_for(ml_lead).get(reverse("model_detail", args=[ready_version.model_id])).content.decode()
    assert page(ready_version) in body
    assert reverse("version_monitoring", args=[ready_version.model_id, ready_version.pk]) in body


def test_the_page_reads_a_bounded_number_of_queries(client_for, ml_lead, ready_version, risk_manager, dpo,
                                                    django_assert_max_num_queries):
    services.version_submit(actor=ml_lead, version=ready_version)
    services.version_sign_off(actor=risk_manager, version=ready_version)
    client = client_for(dpo)
    client.get(page(ready_version))
    # Session, user, OTP, grants, unit tree (twice: access and roles), version, checks (5), sign-offs (twice:
    # panel and gate), gate candidate and its checks again, events.
    with django_assert_max_num_queries(32):
        assert client.get(page(ready_version)).status_code == 200


# --- the approval queue ---------------------------------------------------------------------------------------------

QUEUE = "/assessments/approvals/"


def test_the_queue_ladder(client, client_for, staff, outsider, ready_version):
    services.version_submit(actor=ready_version.created_by, version=ready_version)
    assert client.get(QUEUE).status_code == 302
    assert client_for(staff).get(QUEUE).status_code == 403
    response = client_for(outsider).get(QUEUE)
    assert response.status_code == 200 and ready_version.model.name.encode() not in response.content


def test_the_queue_puts_what_waits_for_me_first(client_for, ready_version, ml_lead, risk_manager, dpo):
    services.version_submit(actor=ml_lead, version=ready_version)
    services.version_sign_off(actor=risk_manager, version=ready_version)
    mine = client_for(dpo).get(QUEUE).context
    assert [row["version"] for row in mine["waiting_for_me"]] == [ready_version]
    assert mine["waiting_for_me"][0]["mine"] == ["Data-protection officer"]
    theirs = client_for(risk_manager).get(QUEUE).context
    assert theirs["waiting_for_me"] == [] and theirs["in_review"][0]["missing"] == ["Data-protection officer"]
    # The registrant never sees their own version as waiting for them.
    assert client_for(ml_lead).get(QUEUE).context["waiting_for_me"] == []


def test_the_queue_reads_a_fixed_number_of_queries(client_for, high_model, ml_lead, risk_manager, dpo,
                                                   django_assert_num_queries):
    from tests.assessments.approvals.builders import make_ready, new_version

    def add(count):
        for _ in range(count):
            version = new_version(high_model)
            make_ready(version)
            services.version_submit(actor=ml_lead, version=version)
            services.version_sign_off(actor=risk_manager, version=version)

    add(1)
    client = client_for(dpo)
    client.get(QUEUE)
    with django_assert_num_queries(15) as first:
        client.get(QUEUE)
    add(3)
    # Session, user, OTP, access, nav, in-review versions and their sign-offs, my roles (2), deployed, their alerts:
    # the same with four times the versions.
    with django_assert_num_queries(len(first.captured_queries)):
        assert len(client.get(QUEUE).context["waiting_for_me"]) == 4
