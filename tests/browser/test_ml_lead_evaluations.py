"""The ML lead's fairness and robustness runs in a real browser, with a real worker process behind them.

An ML lead opens the demo loan classifier (skops, with a built-in bias), starts a fairness run on its
held-out evaluation data from the model page, watches its progress live on the run page, and reads the
result: a failing demographic-parity gap for a high-risk model, with per-group bar charts and their
threshold lines. Switching the form to robustness shows the robustness settings (htmx), and that run's
accuracy-vs-noise curve appears on the model page. The runs go through Redis to this test's own worker,
slowed at each progress report so the progress can be seen.

Screenshots: test-artifacts/screenshots/ml-lead-evaluation-*.png.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from assessments.evaluations.demo_classifier import build_demo_classifier
from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.services import inventory
from tests.services.test_scan_worker import send_runs_to, start_scan_worker

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def evaluation_worker(monkeypatch, shared_upload_root, tmp_path, django_db_setup):
    queue = f"evaluations-browser-{uuid.uuid4().hex[:6]}"
    send_runs_to(monkeypatch, queue)
    worker = start_scan_worker(queue=queue, upload_root=shared_upload_root, scratch=tmp_path, step_delay=1.0,
                               lease_seconds=60)
    yield worker
    from tests.conftest import _stop

    _stop(worker.process)


@pytest.fixture
def loan_model(ml_lead, retail, tmp_path):
    built = build_demo_classifier(tmp_path / "demo", rows=2_000)
    files = {name: Path(path).read_bytes() for name, path in built["paths"].items()}
    data = inventory.dataset_register(actor=ml_lead, business_unit=retail, name="Loan decisions (held out)")
    evaluation = inventory.dataset_version_create(
        actor=ml_lead, dataset=data, version="2025-06",
        file=SimpleUploadedFile("loan_evaluation.csv", files["evaluation_csv"]))
    # Its columns are what the form offers: profile it now rather than wait for a worker to.
    inventory.dataset_version_profile(version_id=evaluation.pk)
    model = inventory.model_register(actor=ml_lead, business_unit=retail, name="Loan approval classifier",
                                     purpose="Recommends loan approvals.", risk_tier="high")
    inventory.model_version_create(actor=ml_lead, model=model, version="1.0.0",
                                   artifact=SimpleUploadedFile("loan.skops", files["skops"]),
                                   evaluation_datasets=[evaluation])
    return model


def test_ml_lead_runs_fairness_and_robustness_and_reads_the_charts(
    page, live_server, login, screenshot, password, evaluation_worker, loan_model
):
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    login(page, live_server, "mllead", password)

    page.goto(f"/models/{loan_model.pk}/")
    panel = page.locator(f"#evaluations-model-{loan_model.pk}")
    expect(panel.get_by_role("heading", name="Fairness and robustness")).to_be_visible()
    expect(panel).to_contain_text("No fairness or robustness evaluation has run yet")
    panel.get_by_role("link", name="Start an evaluation").click()

    # The form offers the evaluation data's columns, with the outcome and sensitive columns guessed.
    expect(page.get_by_role("heading", level=1, name="Start an evaluation")).to_be_visible()
    expect(page.get_by_label("Outcome column")).to_have_value("approved")
    expect(page.get_by_role("checkbox", name="sex", exact=True)).to_be_checked()
    expect(page.get_by_role("checkbox", name="age_band", exact=True)).to_be_checked()
    expect(page.get_by_role("button", name="Show the columns of this data")).to_be_hidden()  # htmx does it
    screenshot(page, "ml-lead-evaluation-01-fairness-form")
    page.get_by_role("button", name="Start the evaluation").click()

    # The run page shows the progress live, then the result without a reload.
    expect(page.get_by_role("heading", level=1, name="Fairness evaluation")).to_be_visible()
    seen = set()
    for _ in range(240):
        status = page.locator("#run-body").get_attribute("data-run-status")
        if status in ("succeeded", "failed"):
            break
        bar = page.locator("#run-progress")
        if bar.count():
            seen.add(bar.get_attribute("value"))
            if len(seen) == 2:
                screenshot(page, "ml-lead-evaluation-02-fairness-running")
        page.wait_for_timeout(250)
    assert len(seen) >= 2, f"progress did not move on the page: {seen}"
    expect(page.get_by_role("heading", name="Fairness between groups")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    run = EvaluationRun.objects.get(kind=RunKind.FAIRNESS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    expect(page.locator('[data-verdict="fail"]').first).to_be_visible()
    chart = page.get_by_role("img", name="Selection rate by sex").first
    expect(chart).to_be_visible()
    expect(page.get_by_role("region", name="Groups by sex", exact=True)).to_contain_text("female")
    screenshot(page, "ml-lead-evaluation-03-fairness-result")
    chart.scroll_into_view_if_needed()
    screenshot(page, "ml-lead-evaluation-04-fairness-charts")

    # Robustness: choosing it swaps the settings in place.
    page.goto(f"/assessments/models/{loan_model.pk}/evaluate/")
    page.get_by_label("Robustness: measure how noise").check()
    expect(page.get_by_label("Random seed")).to_be_visible()
    expect(page.get_by_text("Sensitive columns")).to_have_count(0)
    page.get_by_label("Random seed").fill("11")
    page.get_by_label("Rows sampled").select_option("500")
    screenshot(page, "ml-lead-evaluation-05-robustness-form")
    page.get_by_role("button", name="Start the evaluation").click()
    expect(page.get_by_role("heading", name="Robustness", exact=True)).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_role("img", name="Accuracy and prediction flip rate under Gaussian noise")).to_be_visible()
    robustness = EvaluationRun.objects.get(kind=RunKind.ROBUSTNESS)
    assert robustness.inputs["options"]["seed"] == 11 and robustness.status == RunStatus.SUCCEEDED

    # Both verdicts on the model page.
    page.goto(f"/models/{loan_model.pk}/#evaluations")
    expect(panel.locator('[data-verdict]')).to_have_count(2)
    panel.scroll_into_view_if_needed()
    screenshot(page, "ml-lead-evaluation-06-model-panel")
    assert not page_errors, page_errors
