"""The gate's decision cache across processes: Redis holds it, and a scan that a real worker process
finishes makes the test process's cached answer stale at once.

The scan goes to a queue of its own, whose worker starts only after the gate has answered (and cached)
"no scan has finished yet"; that worker's commit must bump the artifact's generation in Redis.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token

from assessments.approvals import gate_cache
from assessments.evaluations import runs
from assessments.models import EvaluationRun, RunKind
from governance.services import inventory
from tests.services.test_scan_worker import MALICIOUS_PICKLE, send_runs_to, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
QUEUE = "gate-cache-test"


def _scan_check(client, sha256: str) -> dict:
    answer = client.get("/api/gate/", {"sha256": sha256}).json()
    assert answer["decision"] == "deny"
    return next(check for check in answer["checks"] if check["code"] == "artifact_scan")


def test_a_scan_finished_in_a_worker_process_reaches_the_cached_answer(
        client, admin_and_unit, scan_workers, monkeypatch, django_assert_num_queries):
    assert gate_cache.enabled(), "the services run must use Redis as the cache"
    send_runs_to(monkeypatch, QUEUE)
    admin, unit = admin_and_unit
    model = inventory.model_register(actor=admin, business_unit=unit, name="Gate cache model", purpose="Scores.")
    version = inventory.model_version_create(actor=admin, model=model, version="1.0",
                                             artifact=SimpleUploadedFile("model.pkl", MALICIOUS_PICKLE))
    queued = EvaluationRun.objects.filter(model_version=version, kind=RunKind.ARTIFACT_SCAN).first() \
        or runs.run_start_for_upload(version=version)
    token, _ = Token.objects.get_or_create(user=admin)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token.key}"

    assert "No artifact scan" in _scan_check(client, version.artifact_sha256)["detail"]
    with django_assert_num_queries(0):  # from Redis
        assert "No artifact scan" in _scan_check(client, version.artifact_sha256)["detail"]

    worker = scan_workers(queue=QUEUE)
    wait_for(queued.pk, lambda run: run.is_finished, worker)

    check = _scan_check(client, version.artifact_sha256)
    assert not check["ok"] and "critical or high findings" in check["detail"], check
