"""Sections that draw on the other apps: training completions of the people in scope, fairness
charts from evaluation runs, and the PDF/A-3b identification kept through signing."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from governance.models import PackScopeKind, PackStatus
from governance.packs.content import collect_pack
from governance.packs.render import pack_html
from governance.packs.scope import PackScope
from tests.factories import ModelVersionFactory
from tests.governance.packs.helpers import build, period, read

pytestmark = pytest.mark.django_db


def collect(model, user):
    start, end = period()
    return collect_pack(scope=PackScope(kind=PackScopeKind.MODEL, model=model), user=user, period_start=start,
                        period_end=end)


def test_training_completions_of_the_people_in_scope_only(pack_model, auditor, staff, outsider):
    from tests.training.conftest import correct_answers, make_module
    from training.services.assignments import assignment_enrol
    from training.services.quiz import quiz_start, quiz_submit

    module = make_module()
    for person in (staff, outsider):
        attempt = quiz_start(user=person, assignment=assignment_enrol(user=person, module=module))
        quiz_submit(user=person, attempt=attempt, answers=correct_answers(attempt))
    content = collect(pack_model, auditor)
    header, rows = content.listings["listings/training.csv"]
    people = {row[0] for row in rows}
    assert (staff.get_full_name() or staff.username) in people  # staff of Retail, where the model is
    assert (outsider.get_full_name() or outsider.username) not in people  # Research: out of scope
    assert content.context["completion_people"] == len(people)


def test_fairness_results_are_drawn_as_charts(pack_model, auditor):
    from assessments.evaluations.fairness.evaluate import evaluate_fairness
    from assessments.models import EvaluationRun, RunKind, RunStatus

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"sex": rng.choice(["female", "male"], 400), "label": rng.integers(0, 2, 400)})
    frame["prediction"] = np.where(frame["sex"] == "male", rng.random(400) < 0.7, rng.random(400) < 0.3).astype(int)
    result = evaluate_fairness(frame, target="label", sensitive="sex", prediction="prediction", risk_tier="high")
    version = ModelVersionFactory(model=pack_model, version="2.0")
    EvaluationRun.objects.create(kind=RunKind.FAIRNESS, model_version=version, status=RunStatus.SUCCEEDED,
                                 finished_at=timezone.now(), report=result,
                                 summary={"verdict": "fail", "counts": {"high": 1}})
    content = collect(pack_model, auditor)
    assert len(content.context["charts"]) == 1
    html = pack_html(content=content, meta={"pack_id": "x", "scope": {"label": "x"}, "period": {},
                                            "listing_names": []})
    assert "<svg" in html and "Fairness evaluation #" in html
    header, rows = content.listings["listings/runs.csv"]
    assert [row[1] for row in rows] == ["Fairness evaluation"]


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="pdfinfo (poppler-utils) is not installed")
def test_the_signed_pack_still_declares_pdf_a_3b_and_is_tagged(pack_model, auditor, tmp_path):
    pack = build(auditor, PackScope(kind=PackScopeKind.MODEL, model=pack_model))
    assert pack.status == PackStatus.SUCCEEDED
    path = tmp_path / "pack.pdf"
    path.write_bytes(read(pack))
    meta = subprocess.run(["pdfinfo", "-meta", str(path)], capture_output=True, text=True,  # noqa: S603,S607
                          check=True).stdout
    assert 'pdfaid:part="3"' in meta and 'pdfaid:conformance="B"' in meta
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout  # noqa: S603,S607
    assert "Tagged:          yes" in info


def test_datasets_the_requester_may_not_see_stay_out_of_the_pack(pack_model, auditor, research, outsider):
    from tests.factories import DatasetFactory, DatasetVersionFactory

    hidden = DatasetVersionFactory(dataset=DatasetFactory(name="Research secrets", business_unit=research,
                                                          owner=outsider), version="9")
    pack_model.versions.get().training_datasets.add(hidden)
    content = collect(pack_model, auditor)
    assert "Research secrets" not in {d.name for d in content.context["datasets"]}
    assert all("Research secrets" not in row for row in content.listings["listings/lineage.csv"][1])
    start, end = period()
    system = collect_pack(scope=PackScope(kind=PackScopeKind.MODEL, model=pack_model), user=None,
                          period_start=start, period_end=end)
    assert "Research secrets" in {d.name for d in system.context["datasets"]}
