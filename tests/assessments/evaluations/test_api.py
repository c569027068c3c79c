"""The runs API: permission ladder, starting and reading runs, the artifact scan's JSON being the
command's JSON, and external submissions (schema, size, formats, idempotency)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments.evaluations import external, runs
from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.models import EvidenceItem
from tests.assessments.evaluations.conftest import MALICIOUS_PICKLE

pytestmark = pytest.mark.django_db

MODELSCAN_REPORT = {
    "summary": {"total_issues_by_severity": {"LOW": 0, "MEDIUM": 0, "HIGH": 0, "CRITICAL": 1}, "total_issues": 1,
                "input_path": "evil.pkl", "absolute_path": "/tmp/ev", "modelscan_version": "0.8.8",
                "timestamp": "2026-11-23T13:06:48.699214", "scanned": {"total_scanned": 1,
                                                                       "scanned_files": ["evil.pkl"]}},
    "issues": [{"description": "Use of unsafe operator 'system' from module 'os'", "operator": "system",
                "module": "os", "source": "evil.pkl", "scanner": "modelscan.scanners.PickleUnsafeOpScan",
                "severity": "CRITICAL"}],
    "errors": [],
}
FICKLING_REPORT = {
    "severity": "LIKELY_OVERTLY_MALICIOUS",
    "analysis": "`from os import system` is suspicious and indicative of an overtly malicious pickle file",
    "detailed_results": {"AnalysisResult": {"UnsafeImports": "from os import system",
                                            "UnusedVariables": "_var0: system('true')"}},
}
SARIF_LOG = {
    "version": "2.1.0",
    "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
    "runs": [{
        "tool": {"driver": {"name": "bandit", "version": "1.7.9", "rules": [
            {"id": "B301", "shortDescription": {"text": "Use of pickle"},
             "properties": {"security-severity": "7.5"}}]}},
        "results": [
            {"ruleId": "B301", "level": "warning", "message": {"text": "pickle.load of untrusted data"},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": "train.py"},
                                                 "region": {"startLine": 42}}}]},
            {"ruleId": "B105", "level": "note", "message": {"text": "Hard-coded password string"}},
        ],
    }],
}


def client_for_user(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def api(request):
    return lambda name: client_for_user(None if name is None else request.getfixturevalue(name))


@pytest.fixture
def finished_run(ml_lead, malicious_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.run_start(kind=RunKind.ARTIFACT_SCAN, target=malicious_version, actor=ml_lead)
    run.refresh_from_db()
    return run


def native(version_id: int, **extra) -> dict:
    return {
        "schema_version": "1", "kind": "artifact_scan", "target": {"model_version": version_id},
        "tool": {"name": "acme-scanner", "version": "2.1"},
        "findings": [{"severity": "high", "rule_id": "ACME-1", "title": "Unsafe import", "location": "data.pkl",
                      "requirement_urns": ["urn:warden:pci-dss:6.2.4"]}],
        **extra,
    }


def post_json(client, document, path="/api/runs/external/", **headers):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return client.generic("POST", path, body, content_type="application/json", **headers)


# --- reading -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "status"), [(None, 401), ("outsider", 404), ("staff", 404), ("auditor", 200),
                                             ("risk_manager", 200), ("ml_lead", 200), ("admin_user", 200)])
def test_run_detail_ladder(api, finished_run, who, status):
    assert api(who).get(f"/api/runs/{finished_run.pk}/").status_code == status


def test_list_shows_only_visible_runs_and_filters(api, finished_run, malicious_version):
    body = api("auditor").get("/api/runs/", {"model_version": malicious_version.pk}).json()
    assert [row["id"] for row in body["results"]] == [finished_run.pk]
    assert body["results"][0]["counts"]["critical"] >= 1
    assert api("outsider").get("/api/runs/").json()["results"] == []
    assert api("auditor").get("/api/runs/", {"model_version": "x"}).status_code == 400


def test_artifact_run_json_is_the_commands_json(api, finished_run, tmp_path: Path):
    path = tmp_path / "model.pkl"
    path.write_bytes(MALICIOUS_PICKLE)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("scan_artifact", str(path), "--format", "json", stdout=out)
    assert exited.value.code == 1  # critical findings
    command = json.loads(out.getvalue())

    body = api("ml_lead").get(f"/api/runs/{finished_run.pk}/").json()
    run_record = body.pop("run")
    volatile = {"started_at", "duration_s", "external"}
    assert {k: v for k, v in body.items() if k not in volatile} == {
        k: v for k, v in command.items() if k not in volatile}
    assert [e["tool"] for e in body["external"]] == [e["tool"] for e in command["external"]]
    assert run_record["status"] == "succeeded" and run_record["id"] == finished_run.pk
    assert run_record["findings"] and all(len(f["fingerprint"]) == 64 for f in run_record["findings"])

    report = api("ml_lead").get(f"/api/runs/{finished_run.pk}/report/").json()
    assert "run" not in report and report["sha256"] == command["sha256"]
    sarif = api("ml_lead").get(f"/api/runs/{finished_run.pk}/report/", {"format": "sarif"}).json()
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]


# --- starting, cancelling, re-running --------------------------------------------------------------------------------

def test_start_ladder(api, malicious_version):
    payload = {"kind": "artifact_scan", "model_version": malicious_version.pk}
    assert api(None).post("/api/runs/", payload, format="json").status_code == 401
    assert api("outsider").post("/api/runs/", payload, format="json").status_code == 404
    assert api("auditor").post("/api/runs/", payload, format="json").status_code == 403
    assert not EvaluationRun.objects.exists()
    response = api("ml_lead").post("/api/runs/", payload, format="json")
    assert response.status_code == 202 and response["Location"].endswith(f"/api/runs/{response.json()['id']}/")
    # Asking again while it is queued returns the same run.
    again = api("ml_lead").post("/api/runs/", payload, format="json")
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]


@pytest.mark.parametrize("payload", [
    {"kind": "artifact_scan"},
    {"kind": "artifact_scan", "model_version": 1, "dataset_version": 1},
    {"kind": "fairness", "model_version": 1},
    {"kind": "artifact_scan", "model_version": "one"},
    {"kind": "artifact_scan", "model_version": 1, "surprise": True},
])
def test_start_rejects_bad_input(api, malicious_version, payload):
    response = api("ml_lead").post("/api/runs/", payload, format="json")
    assert response.status_code == 400 and response.json()["error"]


def test_dataset_scan_needs_a_dataset_version(api, malicious_version):
    response = api("ml_lead").post("/api/runs/", {"kind": "dataset_scan", "model_version": malicious_version.pk},
                                   format="json")
    assert response.status_code == 400


def test_cancel_and_rerun_ladder(api, ml_lead, malicious_version, finished_run):
    queued = runs.run_start(kind=RunKind.ARTIFACT_SCAN, target=malicious_version, actor=ml_lead)
    assert api("auditor").post(f"/api/runs/{queued.pk}/cancel/").status_code == 403
    assert api("outsider").post(f"/api/runs/{queued.pk}/cancel/").status_code == 404
    response = api("ml_lead").post(f"/api/runs/{queued.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert api("ml_lead").post(f"/api/runs/{queued.pk}/cancel/").status_code == 400  # already finished
    assert api("auditor").post(f"/api/runs/{finished_run.pk}/rerun/").status_code == 403
    rerun = api("ml_lead").post(f"/api/runs/{finished_run.pk}/rerun/")
    assert rerun.status_code == 202 and rerun.json()["id"] not in (queued.pk, finished_run.pk)


# --- external results ------------------------------------------------------------------------------------------------

def test_external_submission_is_recorded_with_findings_and_evidence(api, malicious_version, catalog):
    response = post_json(api("ml_lead"), native(malicious_version.pk), HTTP_IDEMPOTENCY_KEY="ci-job-1")
    assert response.status_code == 201, response.json()
    body = response.json()
    run = EvaluationRun.objects.get(pk=body["run"]["id"])
    assert run.kind == RunKind.EXTERNAL and run.status == RunStatus.SUCCEEDED and run.trigger == "api"
    assert run.tool_versions == {"acme-scanner": "2.1"}
    assert run.findings.get().severity == "high"
    item = EvidenceItem.objects.get(source_key=f"run:{run.pk}")
    assert item.source == "api"
    assert "urn:warden:pci-dss:6.2.4" in item.requirements.values_list("urn", flat=True)
    assert body["tool"] == {"name": "acme-scanner", "version": "2.1"}  # the submitted document, as sent


def test_the_same_submission_twice_is_recorded_once(api, malicious_version):
    client = api("ml_lead")
    first = post_json(client, native(malicious_version.pk, idempotency_key="build-77"))
    second = post_json(client, native(malicious_version.pk, idempotency_key="build-77"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["run"]["id"] == second.json()["run"]["id"]
    assert EvaluationRun.objects.count() == 1 and EvidenceItem.objects.count() == 1
    changed = native(malicious_version.pk, idempotency_key="build-77", status="failed", error="crashed")
    conflict = post_json(client, changed)
    assert conflict.status_code == 409 and "different submission" in conflict.json()["error"]


def test_idempotency_header_works_too(api, malicious_version):
    client = api("ml_lead")
    first = post_json(client, native(malicious_version.pk), HTTP_IDEMPOTENCY_KEY="k1")
    second = post_json(client, native(malicious_version.pk), HTTP_IDEMPOTENCY_KEY="k1")
    assert second.status_code == 200 and first.json()["run"]["id"] == second.json()["run"]["id"]
    third = post_json(client, native(malicious_version.pk))  # no key: a new run each time
    assert third.status_code == 201 and EvaluationRun.objects.count() == 2


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"{not json", 400, "$"),
    (b"", 400, None),
    (b"\xff\xfe", 400, None),
    (json.dumps([1, 2]).encode(), 400, "$"),
    (json.dumps({"target": {"model_version": 1}, "tool": {"name": "x"}}).encode(), 400, "$"),
])
def test_malformed_submissions_get_a_reason(api, malicious_version, body, status, field):
    response = post_json(api("ml_lead"), body)
    assert response.status_code == status and response.json()["error"]
    if field:
        assert field in response.json()["fields"]
    assert not EvaluationRun.objects.exists()


def test_schema_errors_name_the_place(api, malicious_version):
    document = native(malicious_version.pk)
    document["findings"][0]["severity"] = "catastrophic"
    document["target"]["dataset_version"] = 3
    response = post_json(api("ml_lead"), document)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "$.findings[0].severity" in fields and "$.target" in fields


def test_oversized_submission_is_refused(api, malicious_version):
    document = native(malicious_version.pk)
    document["summary"] = {"padding": "x" * (external.MAX_SUBMISSION_BYTES + 10)}
    response = post_json(api("ml_lead"), document)
    assert response.status_code == 413 and "larger than 5 MB" in response.json()["error"]


def test_submission_ladder(api, malicious_version):
    assert post_json(api(None), native(malicious_version.pk)).status_code == 401
    assert post_json(api("outsider"), native(malicious_version.pk)).status_code == 404
    assert post_json(api("auditor"), native(malicious_version.pk)).status_code == 403
    assert post_json(api("ml_lead"), native(999999)).status_code == 404
    assert not EvaluationRun.objects.exists()


@pytest.mark.parametrize(("format_name", "document", "expected"), [
    ("modelscan", MODELSCAN_REPORT, [("critical", "modelscan.PickleUnsafeOpScan")]),
    ("fickling", FICKLING_REPORT, [("critical", "fickling.UnsafeImports"), ("critical", "fickling.UnusedVariables")]),
    ("sarif", SARIF_LOG, [("high", "B301"), ("low", "B105")]),
])
def test_tool_formats_are_imported(api, malicious_version, format_name, document, expected):
    response = post_json(api("ml_lead"), document,
                         path=f"/api/runs/external/?format={format_name}&model_version={malicious_version.pk}")
    assert response.status_code == 201, response.json()
    run = EvaluationRun.objects.get(pk=response.json()["run"]["id"])
    assert sorted((f.severity, f.rule_id) for f in run.findings.all()) == sorted(expected)
    assert run.summary["format"] == format_name


def test_sarif_location_and_unknown_format(api, malicious_version):
    response = post_json(api("ml_lead"), SARIF_LOG,
                         path=f"/api/runs/external/?format=sarif&model_version={malicious_version.pk}")
    run = EvaluationRun.objects.get(pk=response.json()["run"]["id"])
    assert run.findings.get(rule_id="B301").location == "train.py:42"
    bad = post_json(api("ml_lead"), SARIF_LOG, path="/api/runs/external/?format=xml&model_version=1")
    assert bad.status_code == 400 and "Unknown format" in bad.json()["error"]
    no_target = post_json(api("ml_lead"), SARIF_LOG, path="/api/runs/external/?format=sarif")
    assert no_target.status_code == 400 and "target" in no_target.json()["fields"]


def test_a_second_submission_from_the_same_tool_is_compared(api, malicious_version):
    client = api("ml_lead")
    post_json(client, native(malicious_version.pk))
    fixed = native(malicious_version.pk)
    fixed["findings"] = []
    body = post_json(client, fixed).json()
    assert body["run"]["summary"]["changes"]["fixed"] == 1


# --- fairness and robustness through the API ------------------------------------------------------------------

def test_fairness_run_through_the_api_ladder_and_result(api, pickle_version, evaluation_data,
                                                        django_capture_on_commit_callbacks):
    payload = {"kind": "fairness", "model_version": pickle_version.pk,
               "options": {"dataset_version": evaluation_data.pk, "target": "approved", "sensitive": ["sex"],
                           "prediction": "model_prediction"}}
    assert api("outsider").post("/api/runs/", payload, format="json").status_code == 404
    assert api("auditor").post("/api/runs/", payload, format="json").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = api("ml_lead").post("/api/runs/", payload, format="json")
    assert response.status_code == 202, response.json()
    document = api("auditor").get(response["Location"]).json()
    assert document["run"]["status"] == "succeeded"
    assert document["run"]["summary"]["verdict"] in ("pass", "warn", "fail")
    assert document["groupings"][0]["name"] == "sex" and document["run"]["inputs"]["options"]["sensitive"] == ["sex"]


@pytest.mark.parametrize(("options", "field"), [
    (None, "options"),
    ({"dataset_version": 1}, "target"),
    ({"target": "approved", "sensitive": ["sex"]}, "dataset_version"),
    ({"dataset_version": "{evaluation}", "target": "nope", "sensitive": ["sex"], "prediction": "model_prediction"},
     "target"),
    ({"dataset_version": "{evaluation}", "target": "approved", "sensitive": ["a", "b", "c", "d", "e"]}, "sensitive"),
])
def test_bad_evaluation_options_get_a_json_error_naming_the_field(api, pickle_version, evaluation_data, options, field):
    payload = {"kind": "fairness", "model_version": pickle_version.pk}
    if options is not None:
        payload["options"] = {key: (evaluation_data.pk if value == "{evaluation}" else value)
                              for key, value in options.items()}
    response = api("ml_lead").post("/api/runs/", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] and field in json.dumps(body["fields"])
    assert not EvaluationRun.objects.filter(kind=RunKind.FAIRNESS).exists()


def test_scans_take_no_evaluation_options(api, malicious_version):
    response = api("ml_lead").post("/api/runs/", {"kind": "artifact_scan", "model_version": malicious_version.pk,
                                                  "options": {"dataset_version": 1, "target": "x"}}, format="json")
    assert response.status_code == 400 and "options" in response.json()["fields"]
