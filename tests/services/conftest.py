"""Fixtures shared by the service tests (a real Redis, PostgreSQL and worker processes)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from governance.models import BusinessUnit
from tests.conftest import WorkerProcess, _keep_worker_log, _stop
from tests.services.test_scan_worker import start_scan_worker


@pytest.fixture
def scan_workers(shared_upload_root, tmp_path, django_db_setup):
    """``scan_workers(queue=..., step_delay=...)`` starts a worker; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(**options) -> WorkerProcess:
        worker = start_scan_worker(upload_root=shared_upload_root, scratch=tmp_path, **options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        _stop(worker.process)
        # Kept beside the session worker's log (test-artifacts/), for a look after a failure in CI.
        kept = _keep_worker_log(worker.log_path)
        kept.replace(kept.with_name(f"scan-worker-{worker.hostname.split('@')[0]}.log"))


@pytest.fixture
def admin_and_unit():
    admin = get_user_model().objects.create_superuser("scan-admin", "scan-admin@example.com", "x" * 16)
    return admin, BusinessUnit.objects.create(name="Payments analytics")
