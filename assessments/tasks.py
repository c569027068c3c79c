"""Celery tasks of the assessments app: they take ids and call a service.

Queues follow from the names (``CELERY_TASK_ROUTES`` in settings): ``scan_*`` go to ``scans``,
``evaluate_*`` to ``evaluations``. Run tasks acknowledge late, so a worker that dies mid-run leaves
the message to be delivered again; ``runs.run_execute`` makes that safe (exactly one result).

Time limits are per task here; memory limits are per worker process (see the README: the ``scans``
workers run with ``--max-memory-per-child``). A run stopped by either records why.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from assessments.evaluations import runs
from assessments.evaluations.limits import memory_ceiling

# Errors worth retrying: the database or the broker was away for a moment. Anything else fails the run.
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)

ARTIFACT_SOFT_LIMIT, ARTIFACT_HARD_LIMIT = 300, 330
DATASET_SOFT_LIMIT, DATASET_HARD_LIMIT = 1800, 1860
# The robustness attack stops itself at its own time budget (300 s); this is the backstop.
EVALUATION_SOFT_LIMIT, EVALUATION_HARD_LIMIT = 900, 960


def _execute(task, run_id: int) -> str:
    outcome = runs.run_execute(run_id=run_id, transient=TRANSIENT)
    if outcome == runs.ClaimOutcome.BUSY and not task.request.is_eager:
        # Another worker holds the run (a duplicate delivery). Look again when its lease would have
        # run out: by then it has finished, or it died and this task takes over.
        raise task.retry(countdown=runs.lease_remaining(run_id) + 5, max_retries=20)
    return outcome if isinstance(outcome, str) else outcome.status


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=300,
             max_retries=5, soft_time_limit=ARTIFACT_SOFT_LIMIT, time_limit=ARTIFACT_HARD_LIMIT)
def scan_artifact_run(self, run_id: int) -> str:
    return _execute(self, run_id)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=300,
             max_retries=5, soft_time_limit=DATASET_SOFT_LIMIT, time_limit=DATASET_HARD_LIMIT)
def scan_dataset_run(self, run_id: int) -> str:
    return _execute(self, run_id)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=300,
             max_retries=5, soft_time_limit=EVALUATION_SOFT_LIMIT, time_limit=EVALUATION_HARD_LIMIT)
def evaluate_fairness_run(self, run_id: int) -> str:
    with memory_ceiling(0 if self.request.is_eager else settings.WARDEN_EVALUATION_MEMORY_MB):
        return _execute(self, run_id)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=300,
             max_retries=5, soft_time_limit=EVALUATION_SOFT_LIMIT, time_limit=EVALUATION_HARD_LIMIT)
def evaluate_robustness_run(self, run_id: int) -> str:
    with memory_ceiling(0 if self.request.is_eager else settings.WARDEN_EVALUATION_MEMORY_MB):
        return _execute(self, run_id)


@shared_task(acks_late=True)
def scan_recover_stale_runs() -> int:
    """Every few minutes (beat): re-queue runs whose worker died or whose message was lost."""
    return len(runs.run_recover_stale())


@shared_task(acks_late=True)
def scan_schedule_rescans() -> int:
    """Weekly (beat): re-scan the newest version of every model and dataset."""
    return len(runs.run_schedule_rescans())


# Registers the approval and monitoring notification tasks with workers (their modules live with their code).
from assessments.approvals.tasks import notify_review_requested  # noqa: E402, F401
from assessments.monitoring.tasks import notify_monitoring_alert  # noqa: E402, F401
