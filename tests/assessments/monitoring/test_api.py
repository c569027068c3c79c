"""Monitoring API: the ladder, drift against the evaluation data, alerts that open risks and notify, bad input."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.test import override_settings

from assessments.models import AlertKind, MonitoringAlert, MonitoringWindow, Risk
from assessments.monitoring import notify
from tests.assessments.approvals.builders import new_version
from tests.assessments.monitoring.builders import fair_labels, report

pytestmark = pytest.mark.django_db


def windows_url(version):
    return f"/api/monitoring/versions/{version.pk}/windows/"


def post(client, version, body):
    return client.post(windows_url(version), data=json.dumps(body), content_type="application/json")


# --- ladder ---------------------------------------------------------------------------------------------------------

def test_anonymous_gets_401(client, deployed):
    assert post(client, deployed, report(0)).status_code == 401
    assert client.get(windows_url(deployed)).status_code == 401


def test_an_outsider_and_an_unknown_version_get_404(api_for, outsider, deployed):
    client = api_for(outsider)
    assert post(client, deployed, report(0)).status_code == 404
    assert client.get(windows_url(deployed)).status_code == 404
    assert client.post("/api/monitoring/versions/999999/windows/", data="{}", content_type="application/json"
                       ).status_code == 404
    assert not MonitoringWindow.objects.exists()


def test_read_only_may_list_but_not_report(api_for, auditor, deployed):
    client = api_for(auditor)
    assert client.get(windows_url(deployed)).status_code == 200
    response = post(client, deployed, report(0))
    assert response.status_code == 403 and response.json()["error"]
    assert not MonitoringWindow.objects.exists()


def test_the_ml_lead_reports_and_reads_back(api_for, ml_lead, deployed):
    client = api_for(ml_lead)
    response = post(client, deployed, report(0, labels=fair_labels()))
    assert response.status_code == 201, response.json()
    window = response.json()
    assert window["drift_reference"].endswith(f"(scan #{deployed.evaluation_datasets.get().runs.get().pk})")
    assert window["drift"]["income"]["psi"] < 0.05 and window["drift"]["region"]["psi"] < 0.05
    assert window["fairness"]["sex"]["ratio"] == 0.9 and window["alerts"] == []
    listed = client.get(windows_url(deployed)).json()["results"]
    assert [w["id"] for w in listed] == [window["id"]]
    from governance.models import AuditEntry

    entry = AuditEntry.objects.get(object_type="assessments.MonitoringWindow")
    assert entry.actor == ml_lead and entry.changes["requests"] == 1000 and entry.changes["labels"] is True


# --- drift, alerts, risks, notifications ----------------------------------------------------------------------------

class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = "s" * 40
    with override_settings(WARDEN_ALERT_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hook",
                           WARDEN_ALERT_WEBHOOK_SECRET=secret):
        yield secret
    server.shutdown()


def test_drift_raises_an_alert_that_opens_a_risk_emails_and_posts_a_signed_webhook(
        api_for, ml_lead, risk_manager, deployed, webhook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_for(ml_lead), deployed, report(0, shift=25_000))
    assert response.status_code == 201
    body = response.json()
    assert body["drift"]["income"]["psi"] > 0.2 and body["drift"]["region"]["psi"] < 0.05
    alert = MonitoringAlert.objects.get()
    assert (alert.kind, alert.metric) == (AlertKind.DRIFT, "income")
    assert alert.risk.model == deployed.model and "Production input drift: income" in alert.risk.title
    assert alert.risk.inherent_level in ("high", "critical") and alert.risk.treatment_status == "open"
    (email,) = mail.outbox
    assert set(email.to) == {ml_lead.email, risk_manager.email} and "PSI" in email.body
    ((headers, raw),) = _Receiver.received
    assert notify.verify_webhook(raw, headers["X-Warden-Timestamp"], headers["X-Warden-Signature"], webhook)
    assert not notify.verify_webhook(raw + b" ", headers["X-Warden-Timestamp"], headers["X-Warden-Signature"], webhook)
    assert json.loads(raw)["metric"] == "income"
    alert.refresh_from_db()
    assert (alert.email_status, alert.webhook_status) == ("sent", "sent")


def test_a_new_drift_alert_joins_the_open_risk(api_for, ml_lead, deployed):
    client = api_for(ml_lead)
    post(client, deployed, report(0, shift=25_000))
    post(client, deployed, report(1, shift=30_000))
    assert MonitoringAlert.objects.count() == 2
    assert Risk.objects.filter(title__startswith="Production input drift").count() == 1


def test_a_failing_webhook_is_recorded_not_lost(api_for, ml_lead, deployed, django_capture_on_commit_callbacks):
    unreachable = {"WARDEN_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/nothing", "WARDEN_ALERT_WEBHOOK_SECRET": "s" * 40}
    with override_settings(**unreachable), django_capture_on_commit_callbacks(execute=True):
        post(api_for(ml_lead), deployed, report(0, shift=25_000))
    alert = MonitoringAlert.objects.get()
    assert alert.webhook_status == "failed" and alert.webhook_attempts == 1 and alert.webhook_error


def test_labels_arriving_later_compute_accuracy_and_fairness_alerts(api_for, ml_lead, deployed):
    client = api_for(ml_lead)
    window = post(client, deployed, report(0)).json()
    labels_url = f"/api/monitoring/windows/{window['id']}/labels/"
    unfair = fair_labels(accuracy=0.8, female=100, male=220)
    response = client.post(labels_url, data=json.dumps(unfair), content_type="application/json")
    assert response.status_code == 200, response.json()
    kinds = sorted(a["kind"] for a in response.json()["alerts"])
    assert kinds == ["accuracy", "fairness"]
    # The same labels again: nothing new; different labels: a conflict, nothing changed.
    assert client.post(labels_url, data=json.dumps(unfair), content_type="application/json").status_code == 200
    response = client.post(labels_url, data=json.dumps(fair_labels()), content_type="application/json")
    assert response.status_code == 409
    assert MonitoringAlert.objects.count() == 2
    assert MonitoringWindow.objects.get().accuracy == 0.8


def test_an_error_spike_raises_an_alert(api_for, ml_lead, deployed):
    post(api_for(ml_lead), deployed, report(0, requests=1000, errors=200))
    assert MonitoringAlert.objects.get().kind == AlertKind.ERRORS


# --- idempotency and order --------------------------------------------------------------------------------------------

def test_the_same_key_and_report_twice_is_recorded_once(api_for, ml_lead, deployed):
    client = api_for(ml_lead)
    body = report(0, shift=25_000)
    first = post(client, deployed, body)
    again = post(client, deployed, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert MonitoringWindow.objects.count() == 1 and MonitoringAlert.objects.count() == 1


def test_the_same_key_with_another_report_is_a_conflict(api_for, ml_lead, deployed):
    client = api_for(ml_lead)
    post(client, deployed, report(0, key="k1"))
    response = post(client, deployed, report(1, key="k1"))
    assert response.status_code == 409 and "idempotency key" in response.json()["error"]
    assert MonitoringWindow.objects.count() == 1


@pytest.mark.parametrize("second_hour, start_offset", [(0, 0), (-1, 0), (0, 30)])
def test_windows_out_of_order_or_overlapping_are_refused(api_for, ml_lead, deployed, second_hour, start_offset):
    import datetime as dt

    client = api_for(ml_lead)
    assert post(client, deployed, report(1)).status_code == 201
    body = report(second_hour + 1, key="later")
    if start_offset:
        start = dt.datetime.fromisoformat(body["window_start"]) + dt.timedelta(minutes=start_offset)
        body["window_start"] = start.isoformat()
    if second_hour == 0 and not start_offset:
        body["window_start"] = report(1)["window_start"]
    response = post(client, deployed, body)
    assert response.status_code == 409 and "in order" in response.json()["error"]
    assert MonitoringWindow.objects.count() == 1


def test_a_version_that_is_not_deployed_cannot_report(api_for, ml_lead, high_model):
    draft = new_version(high_model)
    response = post(api_for(ml_lead), draft, report(0))
    assert response.status_code == 409 and "not deployed" in response.json()["error"]


# --- absurd values --------------------------------------------------------------------------------------------------

def _break(path, value):
    def change(body):
        target = body
        *parents, last = path
        for part in parents:
            target = target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return change


def _long_window(body):
    import datetime as dt

    start = dt.datetime.fromisoformat(body["window_start"])
    body["window_start"] = (start - dt.timedelta(days=40)).isoformat()


def _future(body):
    import datetime as dt

    body["window_end"] = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()


BAD = {
    "negative requests": (_break(["request_count"], -5), "request_count"),
    "requests as text": (_break(["request_count"], "1000"), "request_count"),
    "requests as boolean": (_break(["request_count"], True), "request_count"),
    "absurdly many requests": (_break(["request_count"], 10**15), "request_count"),
    "more errors than requests": (_break(["error_count"], 5000), "error_count"),
    "no key": (_break(["idempotency_key"], KeyError), "idempotency_key"),
    "key with spaces": (_break(["idempotency_key"], "a b"), "idempotency_key"),
    "end before start": (lambda b: b.update(window_end=b["window_start"]), "window_end"),
    "naive time": (_break(["window_start"], "2026-12-01T10:00:00"), "window_start"),
    "not a time": (_break(["window_start"], "yesterday"), "window_start"),
    "window of 40 days": (_long_window, "window_end"),
    "window in the future": (_future, "window_end"),
    "decreasing quantiles": (_break(["features", "income", "quantiles"], [3, 2, 1]), "features.income.quantiles"),
    "one quantile": (_break(["features", "income", "quantiles"], [1]), "features.income.quantiles"),
    "overflowing quantiles": (_break(["features", "income", "quantiles"], [-1e308, 1e308]),
                              "features.income.quantiles"),
    "negative category": (_break(["features", "region", "counts", "north"], -1), "features.region.counts.north"),
    "unknown statistic": (_break(["features", "income"], {"mean": 3}), "features.income"),
    "more predictions than requests": (_break(["predictions", "counts", "approve"], 10**6), "predictions.counts"),
    "accuracy above 1": (lambda b: b.update(labels=fair_labels(accuracy=1.5)), "labels.accuracy"),
    "more selected than counted": (lambda b: b.update(labels=fair_labels(female=900)), "labels.groups.sex.female"),
    "unknown field": (lambda b: b.update(surprise=1), "surprise"),
    "too many features": (lambda b: b.update(features={f"f{i}": {"counts": {"a": 1}} for i in range(501)}),
                          "features"),
}


@pytest.mark.parametrize("name", BAD)
def test_absurd_values_are_a_400_naming_the_field_and_nothing_is_recorded(api_for, ml_lead, deployed, name):
    change, field = BAD[name]
    body = report(0, labels=fair_labels())
    change(body)
    response = post(api_for(ml_lead), deployed, body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"], response.json()
    assert not MonitoringWindow.objects.exists() and not MonitoringAlert.objects.exists()


@pytest.mark.parametrize("raw", ["not json", "[]", '{"request_count": NaN}', "null"])
def test_malformed_json_is_a_400(api_for, ml_lead, deployed, raw):
    response = api_for(ml_lead).post(windows_url(deployed), data=raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]
    assert not MonitoringWindow.objects.exists()


def test_an_oversized_report_is_refused_before_it_is_parsed(api_for, ml_lead, deployed, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    body = report(0)
    body["features"] = {f"f{i}": {"counts": {f"value-{j}": 1 for j in range(200)}} for i in range(40)}
    raw = json.dumps(body)
    assert len(raw) > 100_000
    response = api_for(ml_lead).post(windows_url(deployed), data=raw, content_type="application/json")
    assert response.status_code in (400, 413)
    assert not MonitoringWindow.objects.exists()


def test_the_labels_ladder(client, api_for, ml_lead, auditor, outsider, deployed):
    window = post(api_for(ml_lead), deployed, report(0)).json()
    url = f"/api/monitoring/windows/{window['id']}/labels/"
    body = json.dumps(fair_labels())
    client.defaults.pop("HTTP_AUTHORIZATION", None)
    assert client.post(url, data=body, content_type="application/json").status_code == 401
    assert api_for(outsider).post(url, data=body, content_type="application/json").status_code == 404
    assert api_for(auditor).post(url, data=body, content_type="application/json").status_code == 403
    assert api_for(ml_lead).post("/api/monitoring/windows/999999/labels/", data=body,
                             content_type="application/json").status_code == 404
    assert MonitoringWindow.objects.get().labels_received_at is None
    assert api_for(ml_lead).post(url, data=body, content_type="application/json").status_code == 200
