"""The Celery application. Workers: `celery -A governance worker -Q default,scans,evaluations,pdf`."""

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("warden")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue gets its own exchange and routing key. Left unbound, Celery binds every queue to the
# default exchange with the same key, and a task sent to one queue would reach all of them.
app.conf.task_queues = [
    Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ("default", "scans", "evaluations", "pdf")
]
app.autodiscover_tasks()


def _beat_schedule() -> dict:
    # Each app keeps its periodic jobs beside its tasks; beat runs the union.
    from assessments.schedules import BEAT_SCHEDULE as assessments_schedule
    from governance.packs.schedules import EVIDENCE_BEAT_SCHEDULE as evidence_schedule
    from governance.retention.schedules import RETENTION_BEAT_SCHEDULE as retention_schedule
    from training.schedules import TRAINING_BEAT_SCHEDULE as training_schedule

    return {**assessments_schedule, **training_schedule, **evidence_schedule, **retention_schedule}


app.conf.beat_schedule = _beat_schedule()
