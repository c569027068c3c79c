"""Approval and the deployment gate in a real browser.

A high-risk credit model's version 2.0 has everything but a clean artifact scan. The ML lead opens its
approval page, follows the unmet condition's link to the scans, runs the scan (in the live server's
process, as in the embedded default), sees every precondition met and submits the version for review.
The data-protection officer follows the link in the e-mail the submission sent and signs off; the
risk manager finds the version in the approvals queue and approves it, the page shows the gate's
answer turning to allow, and a pipeline's call to ``GET /api/gate/`` with a token is allowed with an
answer that verifies against the published keys.

Screenshots: test-artifacts/screenshots/approval-*.png.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from playwright.sync_api import expect
from rest_framework.authtoken.models import Token

from assessments.approvals import signing
from assessments.models import AssessmentKind, RunKind
from tests.assessments.approvals.builders import assessment, dpo_person, evaluation
from tests.factories import DEFAULT_PASSWORD, MLModelFactory, ModelVersionFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def credit_version(transactional_db, retail, ml_lead, risk_manager):
    model = MLModelFactory(name="Credit risk scorer", business_unit=retail, owner=ml_lead, risk_tier="high",
                           processes_personal_data=True)
    # The factory's artifact is a small, harmless pickle whose SHA-256 is recorded: the scan will find it intact.
    version = ModelVersionFactory(model=model, version="2.0", created_by=ml_lead)
    evaluation(version, RunKind.FAIRNESS)
    evaluation(version, RunKind.ROBUSTNESS)
    assessment(model, AssessmentKind.THREAT_MODEL, by=risk_manager)
    assessment(model, AssessmentKind.DPIA, by=risk_manager)
    dpo_person(retail, "dpo")
    return version


def _as(browser, live_server, login, username):
    context = browser.new_context(base_url=live_server.url, locale="en-GB", timezone_id="UTC",
                                  viewport={"width": 1366, "height": 850})
    context.set_default_timeout(20_000)
    page = context.new_page()
    login(page, live_server, username, DEFAULT_PASSWORD)
    return context, page


def test_risk_manager_approves_after_the_ml_lead_fixes_the_last_condition(
        browser, live_server, login, screenshot, credit_version, settings):
    version = credit_version
    approval = f"/assessments/models/{version.model_id}/versions/{version.pk}/approval/"
    # The pipeline has asked already and been denied; with the gate's cache on, its next question must
    # still see every change made in the browser below.
    settings.WARDEN_GATE_CACHE_SECONDS = 60
    token, _ = Token.objects.get_or_create(user=version.created_by)
    pipeline = {"Authorization": f"Token {token.key}"}
    gate_url = f"/api/gate/?sha256={version.artifact_sha256}"

    # The ML lead sees the one unmet condition and follows its link to fix it.
    context, page = _as(browser, live_server, login, "mllead")
    assert page.request.get(gate_url, headers=pipeline).json()["decision"] == "deny"
    page.goto(approval)
    unmet = page.locator("#check-artifact_scan")
    expect(unmet).to_contain_text("No artifact scan of this version has finished yet.")
    expect(page.locator(".check-list__item--unmet")).to_have_count(1 + 2)  # the scan, and two sign-offs waiting
    expect(page.locator("#gate-answer")).to_contain_text("The gate answers: deny")
    screenshot(page, "approval-1-ml-lead-one-condition-open")
    unmet.get_by_role("link", name="Scan the artifact").click()
    page.get_by_role("button", name="Scan version 2.0 now").click()
    status = page.locator("[role=status]", has_text="Artifact scan #")
    expect(status.locator("[data-run-status]")).to_have_attribute("data-run-status", "succeeded", timeout=60_000)

    page.goto(approval)
    expect(page.locator("#check-artifact_scan")).to_contain_text("matches")
    expect(page.locator("#checks-heading + p")).to_contain_text("All met.")
    page.get_by_label("Note for the reviewers").fill("Scan is clean now; ready for sign-off.")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("Submitted for review.")).to_be_visible()
    context.close()

    # The data-protection officer follows the link in the e-mail that the submission sent, and signs first.
    (email,) = [m for m in mail.outbox if m.to == ["dpo@example.com"]]
    link = re.search(r"https?://\S+/approval/", email.body).group(0)
    context, page = _as(browser, live_server, login, "dpo")
    page.goto(urlsplit(link).path)  # the e-mail names the configured site; the test's server is elsewhere
    page.get_by_role("button", name="Approve as data-protection officer").click()
    expect(page.get_by_text("Your sign-off is recorded.")).to_be_visible()
    context.close()

    # The risk manager finds it waiting in the approvals queue (from the risk register's links).
    context, page = _as(browser, live_server, login, "risk")
    page.goto("/assessments/risks/")
    page.get_by_role("navigation", name="Risk and compliance").get_by_role("link", name="Approvals").click()
    waiting = page.get_by_role("region", name="Versions waiting for your sign-off, oldest first")
    expect(waiting).to_contain_text("Risk manager")
    screenshot(page, "approval-queue-risk-manager")
    waiting.get_by_role("link", name="Approval of Credit risk scorer 2.0").click()

    # The risk manager gives the last sign-off: approved, and the gate allows it.
    expect(page.locator("#signoff-dpo")).to_contain_text("Approved by")
    screenshot(page, "approval-2-risk-manager-before")
    page.get_by_label("Note on your sign-off as risk manager").fill("Residual risks accepted in the register.")
    page.get_by_role("button", name="Approve as risk manager").click()
    expect(page.get_by_text("Your sign-off is recorded.")).to_be_visible()
    expect(page.locator(".page-header__lede")).to_contain_text("Approved")
    expect(page.locator("#gate-answer")).to_contain_text("The gate answers: allow")
    expect(page.locator("#signoff-risk_manager")).to_contain_text("Residual risks accepted")
    screenshot(page, "approval-3-approved-gate-allows")

    # The pipeline asks again (twice: the second answer comes from the cache) and keeps a signed answer.
    answer = page.request.get(gate_url, headers=pipeline).json()
    assert answer["decision"] == "allow", answer["reasons"]
    again = page.request.get(gate_url, headers=pipeline).json()
    assert again["decision"] == "allow" and again["jti"] != answer["jti"]
    assert [s["role"] for s in answer["approval"]["sign_offs"]] == ["dpo", "risk_manager"]
    keys = page.request.get("/api/gate/jwks/").json()
    assert signing.verify(answer["jws"], keys)["decision"] == "allow"
    context.close()


def test_the_approval_page_on_a_phone(browser, live_server, login, screenshot, credit_version):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    login(page, live_server, "mllead", DEFAULT_PASSWORD)
    page.goto(f"/assessments/models/{credit_version.model_id}/versions/{credit_version.pk}/approval/")
    expect(page.get_by_role("heading", name="Preconditions")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the page scrolls sideways ({width}px)"
    screenshot(page, "approval-phone")
    context.close()


def test_the_risk_manager_reads_production_drift_and_triages_it(browser, live_server, login, screenshot,
                                                                credit_version, ml_lead, risk_manager):
    from assessments.monitoring import services as monitoring
    from assessments.monitoring.validation import parse_report
    from tests.assessments.approvals.builders import clean_scan
    from tests.assessments.monitoring.builders import deployed_version, fair_labels, report

    clean_scan(credit_version)
    dpo = type(ml_lead).objects.get(username="dpo")
    version = deployed_version(credit_version, ml_lead, risk_manager, dpo)
    for hour in range(12):
        shift = 0 if hour < 8 else 6_000 * (hour - 7)
        ratio_drop = 0 if hour < 9 else 40 * (hour - 8)
        monitoring.window_report(actor=ml_lead, version=version, report=parse_report(
            report(hour, shift=shift, requests=1000 + 40 * hour,
                   labels=fair_labels(accuracy=0.92 - 0.01 * max(0, hour - 7), female=190 - ratio_drop))))

    context, page = _as(browser, live_server, login, "risk")
    page.goto(f"/models/{version.model_id}/")
    page.get_by_role("link", name="Monitoring of version 2.0").click()
    expect(page.get_by_role("heading", name="Production monitoring: Credit risk scorer 2.0")).to_be_visible()
    expect(page.locator("figure svg")).to_have_count(5)
    expect(page.locator("#alerts")).to_contain_text("Input drift")
    screenshot(page, "approval-4-monitoring")
    page.locator("#alerts").get_by_role("link", name="Triage the risk").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Production")
    context.close()
