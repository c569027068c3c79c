"""Celery task of retention: the daily listing of versions past retention."""

from celery import shared_task

from governance.retention.services import retention_sweep


@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def retention_daily_sweep() -> dict:
    return retention_sweep()
