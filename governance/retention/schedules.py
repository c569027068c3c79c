"""Celery beat entries of data protection (merged into the beat schedule by governance/celery.py)."""

from celery.schedules import crontab

RETENTION_BEAT_SCHEDULE = {
    # Every morning: list the dataset versions past retention and tell the data-protection officers.
    "retention-daily-sweep": {
        "task": "governance.retention.tasks.retention_daily_sweep",
        "schedule": crontab(hour=6, minute=15),
    },
    # De-identification jobs whose message was lost or whose worker died are sent again.
    "deidentify-recover-stale-jobs": {
        "task": "governance.deidentify.tasks.deidentify_recover_stale_jobs",
        "schedule": 600.0,
    },
}
