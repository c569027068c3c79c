"""The monitoring page (ladder, charts, query count) and alert triage; the drift maths it reuses."""

import pytest
from django.urls import reverse

from assessments.evaluations.dataset_scan import drift as drift_math
from assessments.models import MonitoringAlert
from assessments.monitoring import services
from assessments.monitoring.charts import line_chart_svg
from assessments.monitoring.validation import parse_report
from tests.assessments.monitoring.builders import INCOME, fair_labels, income_quantiles, report

pytestmark = pytest.mark.django_db


def page(version):
    return reverse("version_monitoring", args=[version.model_id, version.pk])


def record(version, actor, hours=3, **kwargs):
    for hour in range(hours):
        services.window_report(actor=actor, version=version, report=parse_report(report(hour, **kwargs)))


def test_anonymous_is_sent_to_log_in_and_an_outsider_gets_404(client, client_for, outsider, deployed):
    assert client.get(page(deployed)).status_code == 302
    assert client_for(outsider).get(page(deployed)).status_code == 404


@pytest.mark.parametrize("who", ["auditor", "ml_lead", "risk_manager", "dpo"])
def test_everyone_who_sees_the_model_sees_the_charts(request, client_for, deployed, ml_lead, who):
    record(deployed, ml_lead, labels=fair_labels(), shift=25_000)
    response = client_for(request.getfixturevalue(who)).get(page(deployed))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("<svg") == 5  # drift, accuracy, fairness, predictions, traffic
    assert "Share of each predicted class" in body
    assert "Input drift per feature (PSI)" in body and "Triage the risk" in body
    assert "<script" not in body.split("<main", 1)[1] and 'style="' not in body


def test_an_empty_page_shows_how_to_report(client_for, ml_lead, deployed):
    body = client_for(ml_lead).get(page(deployed)).content.decode()
    assert "No windows reported yet" in body and f"/api/monitoring/versions/{deployed.pk}/windows/" in body


def test_the_page_reads_a_fixed_number_of_queries(client_for, ml_lead, deployed, django_assert_num_queries):
    record(deployed, ml_lead, hours=2, shift=25_000)
    client = client_for(ml_lead)
    client.get(page(deployed))
    with django_assert_num_queries(15) as few:
        client.get(page(deployed))
    for hour in range(2, 12):
        services.window_report(actor=ml_lead, version=deployed, report=parse_report(report(hour, shift=25_000)))
    # Session, user, OTP, access (3), version, windows, alerts with risks and windows, drift reference (2), the
    # template's user menu; constant in the number of windows and alerts.
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(page(deployed))


def test_alert_triage_ladder(client_for, ml_lead, auditor, risk_manager, outsider, deployed):
    record(deployed, ml_lead, hours=1, shift=25_000)
    alert = MonitoringAlert.objects.get()
    url = reverse("monitoring_alert_status", args=[alert.pk])
    assert client_for(outsider).post(url, {"status": "resolved"}).status_code == 404
    assert client_for(auditor).post(url, {"status": "resolved"}).status_code == 403
    assert client_for(risk_manager).post(url, {"status": "bogus"}).status_code == 302
    alert.refresh_from_db()
    assert alert.status == "open"
    assert client_for(risk_manager).post(url, {"status": "acknowledged"}).status_code == 302
    alert.refresh_from_db()
    assert alert.status == "acknowledged"


def test_monitoring_psi_is_the_dataset_scans_psi():
    reference = drift_math.numeric_profile(INCOME, len(INCOME))
    measured = services.feature_drift({"income": reference}, {"income": {"quantiles": income_quantiles(8_000)}})
    direct = drift_math.psi(INCOME, INCOME + 8_000)
    assert measured["income"]["psi"] == pytest.approx(direct, rel=0.05)


def test_categories_unseen_in_the_evaluation_data_count_as_other():
    reference = drift_math.categorical_profile({"a": 50, "b": 50}, 100, complete=True)
    same = services.feature_drift({"c": reference}, {"c": {"counts": {"a": 5, "b": 5}}})
    shifted = services.feature_drift({"c": reference}, {"c": {"counts": {"a": 5, "z": 95}}})
    assert same["c"]["psi"] == pytest.approx(0.0, abs=1e-6) and shifted["c"]["psi"] > 1


def test_fairness_ignores_groups_too_small_to_compare():
    result = services.group_fairness({"age": {"young": {"count": 10, "selected": 0}, "old": {"count": 500,
                                                                                            "selected": 250},
                                              "mid": {"count": 400, "selected": 180}}}, min_count=30)
    assert result["age"]["compared"] == ["mid", "old"] and result["age"]["ratio"] == 0.9


def test_the_chart_escapes_labels_and_describes_its_figures():
    svg = line_chart_svg(title="<b>drift</b>", x_labels=["a", "b"], series=[("x<y", [0.1, None])], threshold=0.2,
                         threshold_label="alert")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "x&lt;y: 0.1" in svg and 'role="img"' in svg


@pytest.mark.parametrize("reference, actual", [
    ([5.0] * 101, [5.0, 5.0]), ([5.0] * 101, [1.0, 9.0]), ([float(i) for i in range(101)], [3.0, 3.0]),
    ([float(i) for i in range(101)], [-1e15, 1e15]), ([0.0] * 50 + [1e-300] * 51, [0.0, 1e-300]),
])
def test_drift_of_degenerate_columns_is_finite(reference, actual):
    import math

    measured = services.feature_drift({"f": {"type": "numeric", "quantiles": reference}}, {"f": {"quantiles": actual}})
    assert all(math.isfinite(m["psi"]) for m in measured.values())


def test_score_predictions_chart_their_quartiles(client_for, ml_lead, deployed):
    for hour in range(3):
        body = report(hour)
        body["predictions"] = {"quantiles": [0.0, 0.2 + hour / 10, 0.5, 0.7, 1.0]}
        services.window_report(actor=ml_lead, version=deployed, report=parse_report(body))
    page_body = client_for(ml_lead).get(page(deployed)).content.decode()
    assert "Predicted score quartiles" in page_body and "Median: 0.5, 0.5, 0.5" in page_body
