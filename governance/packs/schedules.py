"""Celery beat entries for evidence (merged in governance/celery.py). Times are in CELERY_TIMEZONE."""

from celery.schedules import crontab

EVIDENCE_BEAT_SCHEDULE = {
    "evidence-flag-expiring": {
        "task": "governance.tasks.evidence_flag_expiring",
        "schedule": crontab(hour=6, minute=15),
    },
}
