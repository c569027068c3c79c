"""Pages of fairness and robustness runs: the start form (permission ladder, columns of the data chosen,
errors on the fields, nothing saved on bad input), the panel on the model page (constant queries,
polling only while active) and the results with their charts on the run page."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.evaluations import runs
from assessments.models import EvaluationRun, RunKind, RunStatus
from tests.assessments.evaluations.conftest import demo_file as _file
from tests.assessments.evaluations.conftest import upload_dataset_version
from tests.assessments.evaluations.test_model_evaluations import fairness_options

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def start_url(model) -> str:
    return f"/assessments/models/{model.pk}/evaluate/"


def fairness_post(version, data, **changes) -> dict:
    return {"kind": "fairness", "version": version.pk, "dataset_version": data.pk, "target": "approved",
            "sensitive": ["sex", "age_band"], "prediction": "", "min_group_size": 30, **changes}


# --- the permission ladder ------------------------------------------------------------------------------------

def test_anonymous_people_are_sent_to_sign_in(client, model):
    response = client.get(start_url(model))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(("who", "code"), [("outsider", 404), ("auditor", 403), ("risk_manager", 403),
                                           ("ml_lead", 200), ("admin_user", 200)])
def test_start_page_ladder(request, client_for, model, skops_version, evaluation_data, who, code):
    assert client_for(request.getfixturevalue(who)).get(start_url(model)).status_code == code


@pytest.mark.parametrize(("who", "code"), [("outsider", 404), ("auditor", 403)])
def test_only_people_who_may_change_the_model_can_start_a_run(request, client_for, model, skops_version,
                                                              evaluation_data, who, code):
    response = client_for(request.getfixturevalue(who)).post(start_url(model),
                                                             fairness_post(skops_version, evaluation_data))
    assert response.status_code == code
    assert not EvaluationRun.objects.filter(kind=RunKind.FAIRNESS).exists()


@pytest.mark.parametrize(("who", "code"), [("outsider", 404), ("auditor", 200), ("ml_lead", 200)])
def test_panel_ladder(request, client_for, model, who, code):
    assert client_for(request.getfixturevalue(who)).get(
        f"/assessments/models/{model.pk}/evaluations/").status_code == code


# --- the start form -------------------------------------------------------------------------------------------

def test_the_form_offers_the_columns_of_the_data_with_likely_choices_ticked(client_for, ml_lead, model,
                                                                          skops_version, evaluation_data):
    page = client_for(ml_lead).get(start_url(model)).content.decode()
    assert '<option value="approved" selected>' in page
    assert 'value="sex"' in page and 'value="age_band"' in page
    assert 'name="sensitive" value="sex"' in page and "checked" in page
    assert "csrfmiddlewaretoken" in page
    assert 'hx-include="#evaluation-form select, #evaluation-form input:not([type=hidden])"' in page


def test_choosing_robustness_refreshes_the_form_as_a_fragment(client_for, ml_lead, model, onnx_version,
                                                              evaluation_data):
    fragment = client_for(ml_lead).get(start_url(model), {"kind": "robustness", "version": onnx_version.pk,
                                                          "dataset_version": evaluation_data.pk}, **HTMX)
    body = fragment.content.decode()
    assert body.lstrip().startswith("<form") and "<html" not in body
    assert "Random seed" in body and "Sensitive columns" not in body


def test_a_good_form_queues_the_run_and_shows_its_results_with_charts(client_for, ml_lead, model, skops_version,
                                                                      evaluation_data,
                                                                      django_capture_on_commit_callbacks):
    client = client_for(ml_lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(start_url(model), fairness_post(skops_version, evaluation_data))
    run = EvaluationRun.objects.get(kind=RunKind.FAIRNESS)
    assert response.status_code == 302 and response["Location"] == f"/assessments/runs/{run.pk}/"
    assert run.status == RunStatus.SUCCEEDED and run.started_by == ml_lead
    page = client.get(response["Location"]).content.decode()
    assert "Fairness between groups" in page and "By sex × age_band" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') >= 6  # selection rate + TPR per grouping
    assert "Demographic parity difference" in page and "too small to compare" in page or "Rows" in page
    model_page = client.get(f"/models/{model.pk}/").content.decode()
    assert "Fairness and robustness" in model_page and f'href="/assessments/runs/{run.pk}/"' in model_page
    assert 'data-verdict="' in model_page


@pytest.mark.parametrize(("changes", "message"), [
    ({"sensitive": []}, "at least one sensitive column"),
    ({"target": "no_such_column"}, "Select a valid choice"),
    ({"dataset_version": "999999"}, "Select a valid choice"),
    ({"kind": "speed"}, "Select a valid choice"),
])
def test_bad_input_is_shown_on_the_form_and_nothing_is_saved(client_for, ml_lead, model, skops_version,
                                                             evaluation_data, changes, message):
    response = client_for(ml_lead).post(start_url(model), fairness_post(skops_version, evaluation_data, **changes))
    assert response.status_code == 200
    assert message in response.content.decode() and "There is a problem" in response.content.decode()
    assert not EvaluationRun.objects.exists() or not EvaluationRun.objects.filter(
        kind__in=[RunKind.FAIRNESS, RunKind.ROBUSTNESS]).exists()


def test_a_pickled_version_needs_a_predictions_column_said_on_the_form(client_for, ml_lead, model, pickle_version,
                                                                      evaluation_data):
    response = client_for(ml_lead).post(start_url(model), fairness_post(pickle_version, evaluation_data))
    assert response.status_code == 200 and "never executes" in response.content.decode()
    assert not EvaluationRun.objects.filter(kind=RunKind.FAIRNESS).exists()


def test_hostile_column_names_and_group_values_are_escaped(client_for, ml_lead, model, pickle_version, dataset, demo,
                                                           django_capture_on_commit_callbacks):
    frame = pd.read_csv(io.BytesIO(_file(demo, "evaluation_csv")))
    frame["<script>alert(1)</script>"] = frame["sex"].map({"female": "<b>ﻣﺮﺣﺒﺎ</b> 🙂", "male": "x" * 300})
    data = upload_dataset_version(ml_lead, dataset, frame.to_csv(index=False).encode(), version="hostile",
                                  name="hostile.csv")
    client = client_for(ml_lead)
    form_page = client.get(start_url(model), {"dataset_version": data.pk}).content.decode()
    assert "<script>alert(1)</script>" not in form_page and "&lt;script&gt;alert(1)&lt;/script&gt;" in form_page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(start_url(model), fairness_post(pickle_version, data, sensitive=["<script>alert(1)</script>"],
                                                    prediction="model_prediction"))
    run = EvaluationRun.objects.get(kind=RunKind.FAIRNESS)
    assert run.status == RunStatus.SUCCEEDED, run.error
    page = client.get(f"/assessments/runs/{run.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page and "<b>ﻣﺮﺣﺒﺎ</b>" not in page
    assert "&lt;b&gt;ﻣﺮﺣﺒﺎ&lt;/b&gt; 🙂" in page


# --- the panel ------------------------------------------------------------------------------------------------

def _finished(kind, version, actor, options):
    run = runs.run_start(kind=kind, target=version, actor=actor, options=options)
    runs.run_execute(run_id=run.pk)
    return run


def test_panel_queries_do_not_grow_with_the_history(client_for, ml_lead, model, pickle_version, evaluation_data):
    client = client_for(ml_lead)
    options = fairness_options(evaluation_data, prediction="model_prediction")
    _finished(RunKind.FAIRNESS, pickle_version, ml_lead, options)
    url = f"/assessments/models/{model.pk}/evaluations/"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url, **HTMX)
    for _ in range(5):
        _finished(RunKind.FAIRNESS, pickle_version, ml_lead, options)
    with CaptureQueriesContext(connection) as many:
        body = client.get(url, **HTMX).content.decode()
    # history, the two latest reports, versions, permission: the same whatever the number of runs
    assert len(many) == len(few)
    assert "Earlier evaluations" in body


def test_panel_polls_while_a_run_is_queued(client_for, ml_lead, model, pickle_version, evaluation_data):
    runs.run_start(kind=RunKind.FAIRNESS, target=pickle_version, actor=ml_lead,
                   options=fairness_options(evaluation_data, prediction="model_prediction"))
    body = client_for(ml_lead).get(f"/assessments/models/{model.pk}/evaluations/", **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in body and "Waiting for a worker" in body and "<progress" in body


def test_readers_see_results_but_not_the_start_button(client_for, ml_lead, auditor, model, pickle_version,
                                                     evaluation_data):
    options = fairness_options(evaluation_data, prediction="model_prediction")
    _finished(RunKind.FAIRNESS, pickle_version, ml_lead, options)
    body = client_for(auditor).get(f"/models/{model.pk}/").content.decode()
    assert 'data-verdict="' in body and "Start an evaluation" not in body


# --- chart downloads ------------------------------------------------------------------------------------------

def test_charts_download_as_svg_for_whoever_may_see_the_run(client_for, ml_lead, auditor, outsider, pickle_version,
                                                          evaluation_data):
    run = _finished(RunKind.FAIRNESS, pickle_version, ml_lead,
                    fairness_options(evaluation_data, prediction="model_prediction"))
    url = f"/assessments/runs/{run.pk}/chart.svg"
    response = client_for(auditor).get(url, {"grouping": 1, "metric": "tpr"})
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"True-positive rate by age_band" in response.content
    for params in ({"grouping": 9}, {"grouping": "-1"}, {"metric": "__class__"}, {"grouping": "x"}):
        assert client_for(auditor).get(url, params).status_code == 404
    assert client_for(outsider).get(url).status_code == 404
