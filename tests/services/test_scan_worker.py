"""Evaluation runs through Redis and real worker processes.

* Round trip: an upload is scanned by the session's worker process (``celery_worker_process``) and
  the result lands in PostgreSQL.
* Exactly once after a crash: a worker of our own is killed with SIGKILL in the middle of a dataset
  scan, a new one is started, and the run completes once (attempt 2, one set of findings, one
  evidence revision, one "succeeded" audit entry).

The killable worker (``start_scan_worker``) is started like the session's worker (same environment,
see tests/conftest.py), with three differences: it consumes a queue of its own (so the session's
worker cannot take the task), the broker's visibility timeout is 5 s (the Redis transport hands an
unacknowledged message to another worker only after that; production keeps an hour), and two
test-only knobs read by ``assessments.evaluations.runs``: ``WARDEN_TEST_RUN_STEP_DELAY`` (seconds
slept at every progress report, to make the run slow enough to kill) and ``WARDEN_RUN_LEASE_SECONDS``
(how soon a silent worker's run may be taken over). ``tests/browser/test_ml_lead_scans.py`` uses it too.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from assessments.evaluations import runs
from assessments.models import EvaluationRun, RunKind, RunStatus
from governance.models import AuditEntry, EvidenceRevision
from governance.services import inventory
from tests.conftest import REPO_ROOT, WorkerProcess, _stop, _with_database_name
from tests.factories import DatasetVersionFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 120
MALICIOUS_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
# Sets the broker's visibility timeout, then runs the ordinary `celery worker` command line.
WORKER_SCRIPT = (
    "import sys; from governance.celery import app; "
    "app.conf.broker_transport_options = {{'visibility_timeout': {visibility}}}; "
    "app.worker_main(['worker', *sys.argv[1:]])"
)


def _same_key_encryption_key() -> dict[str, str]:
    """Uploads are encrypted at rest: the worker must read them with the test process's key. Without
    WARDEN_KEK or WARDEN_KEK_FILE, that is the development key file in the test process's data directory."""
    if os.environ.get("WARDEN_KEK") or os.environ.get("WARDEN_KEK_FILE"):
        return {}
    try:
        from governance.crypto.keys import DEV_KEY_FILE_NAME
    except ImportError:  # storage without encryption
        return {}
    from django.conf import settings

    key_file = Path(settings.DATA_DIR) / DEV_KEY_FILE_NAME
    return {"WARDEN_KEK_FILE": str(key_file)} if key_file.exists() else {}


def start_scan_worker(*, queue: str, upload_root: Path, scratch: Path, step_delay: float = 0.0,
                      lease_seconds: int = 3, visibility_timeout: int = 5) -> WorkerProcess:
    """Start a `celery worker` process on ``queue`` against the test database; wait until it answers a ping."""
    from django.db import connection

    from governance.celery import app

    hostname = f"warden-scan-{uuid.uuid4().hex[:8]}@pytest"
    data_dir = scratch / f"data-{hostname.split('@')[0]}"
    (data_dir / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "governance.settings"),
        "DATABASE_URL": _with_database_name(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
        "WARDEN_DATA_DIR": str(data_dir),
        "WARDEN_UPLOAD_ROOT": str(upload_root),
        "PYTHONUNBUFFERED": "1",
        "PGAPPNAME": "warden-test-scan-worker",
        runs.STEP_DELAY_ENV: str(step_delay),
        "WARDEN_RUN_LEASE_SECONDS": str(lease_seconds),
    }
    env.update(_same_key_encryption_key())
    log_path = scratch / f"{hostname.split('@')[0]}.log"
    command = [
        sys.executable, "-c", WORKER_SCRIPT.format(visibility=visibility_timeout),
        "-Q", queue, "--pool=solo", "--concurrency=1", "-l", "info", "-n", hostname,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    log_file = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    worker = WorkerProcess(process=process, hostname=hostname, log_path=log_path, env=env)
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[hostname], timeout=1.0):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"the scan worker did not start; its log:\n{worker.log()[-4000:]}", pytrace=False)
    return worker


def send_runs_to(monkeypatch, queue: str) -> None:
    """Runs started in this test go to ``queue`` (the killable worker's), not to the session's worker."""
    from assessments import tasks

    def dispatch(run_id: int, kind: str) -> None:
        getattr(tasks, runs.RUN_TASKS[kind]).apply_async(args=[run_id], queue=queue)

    monkeypatch.setattr(runs, "dispatch_run", dispatch)


def wait_for(run_id: int, done, worker=None, timeout: float = WAIT_SECONDS) -> EvaluationRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = EvaluationRun.objects.get(pk=run_id)
        if done(run):
            return run
        if worker is not None:
            worker.assert_alive()
        time.sleep(0.2)
    logs = worker.log()[-4000:] if worker else ""
    pytest.fail(f"run {run_id} did not reach the expected state in {timeout}s (now {run.status}, "
                f"{run.progress}%):\n{logs}", pytrace=False)


def test_upload_is_scanned_by_the_worker_and_the_result_is_in_postgresql(celery_worker_process, admin_and_unit):
    from governance.celery import app

    assert app.conf.task_always_eager is False
    admin, unit = admin_and_unit
    model = inventory.model_register(actor=admin, business_unit=unit, name="Fraud model", purpose="Flags fraud.")
    version = inventory.model_version_create(actor=admin, model=model, version="1.0",
                                             artifact=SimpleUploadedFile("model.pkl", MALICIOUS_PICKLE))
    # What the upload hook does (on commit; this test runs in autocommit, so it is sent at once).
    queued = runs.run_start_for_upload(version=version)
    assert queued.status == RunStatus.QUEUED

    run = wait_for(queued.pk, lambda r: r.is_finished, celery_worker_process)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.findings.filter(severity="critical").exists()
    assert run.summary["verdict"] == "malicious"
    assert EvidenceRevision.objects.filter(item__source_key=f"run:{run.pk}").count() == 1
    assert "assessments.tasks.scan_artifact_run" in celery_worker_process.log()


def big_csv(rows: int = 40_000) -> bytes:
    rng = np.random.default_rng(0)
    cards = ["4111111111111111", "5555555555554444", "378282246310005"]
    frame = pd.DataFrame({
        "id": np.arange(rows), "amount": rng.normal(100, 20, rows).round(2),
        "card_number": [cards[i % 3] for i in range(rows)], "label": rng.integers(0, 2, rows),
    })
    return frame.to_csv(index=False).encode()


def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes_once(scan_workers, monkeypatch, admin_and_unit):
    admin, unit = admin_and_unit
    queue = f"scans-test-{uuid.uuid4().hex[:6]}"
    send_runs_to(monkeypatch, queue)
    dataset = inventory.dataset_register(actor=admin, business_unit=unit, name="Card payments")
    content = big_csv()
    version = DatasetVersionFactory(
        dataset=dataset, version="2024-q1", file=ContentFile(content, name="payments.csv"), file_name="payments.csv",
        file_size=len(content), sha256=hashlib.sha256(content).hexdigest(), created_by=admin,
    )

    first = scan_workers(queue=queue, step_delay=1.5)
    run = runs.run_start(kind=RunKind.DATASET_SCAN, target=version, actor=admin)

    # Mid-run: the worker has claimed it and reported some progress. Then it dies without a word.
    running = wait_for(run.pk, lambda r: r.status == RunStatus.RUNNING and r.progress >= 5, first)
    assert running.attempts == 1
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    time.sleep(2)
    stuck = EvaluationRun.objects.get(pk=run.pk)
    assert stuck.status == RunStatus.RUNNING and stuck.progress < 100

    # A new worker: the unacknowledged message is delivered again, the dead worker's lease has run out,
    # and the run is taken over and finished.
    second = scan_workers(queue=queue, step_delay=0.2)
    run = wait_for(run.pk, lambda r: r.is_finished, second)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempts == 2
    assert run.summary["rows"] == 40_000 and run.summary["cardholder_data"] is True
    assert run.findings.filter(rule_id="pii.card").count() == 1
    assert EvidenceRevision.objects.filter(item__source_key=f"run:{run.pk}").count() == 1
    assert AuditEntry.objects.filter(object_type="assessments.EvaluationRun", object_id=str(run.pk),
                                     changes__status="succeeded").count() == 1
    dataset.refresh_from_db()
    assert dataset.processes_cardholder_data
    assert "taken over" in second.log() or "scan_dataset_run" in second.log()

    # A late duplicate of the message changes nothing.
    from assessments import tasks

    tasks.scan_dataset_run.apply_async(args=[run.pk], queue=queue)
    time.sleep(3)
    again = EvaluationRun.objects.get(pk=run.pk)
    assert (again.status, again.attempts, again.findings.count()) == (RunStatus.SUCCEEDED, 2, run.findings.count())
