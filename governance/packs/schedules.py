"""Celery beat entries for evidence (merged in governance/celery.py). Times are in CELERY_TIMEZONE."""

from celery.schedules import crontab

EVIDENCE_BEAT_SCHEDULE = {
    "evidence-flag-expiring": {
        "task": "governance.tasks.evidence_flag_expiring",
        "schedule": crontab(hour=6, minute=15),
    },
    # Packs whose worker died (lease run out) or whose message was lost are sent again.
    "packs-recover-stale": {
        "task": "governance.tasks.render_recover_stale_packs",
        "schedule": 300.0,
    },
}
