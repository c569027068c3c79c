"""Celery task of de-identified copies: takes the job's id and calls the service."""

from celery import shared_task

from governance.deidentify.services import (
    SOFT_TIME_LIMIT,
    TIME_LIMIT,
    deidentify_execute,
    deidentify_recover_stale,
)


# Routed to the scans queue by name (settings.CELERY_TASK_ROUTES): those workers run under memory limits.
@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5,
             soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def deidentify_dataset_version(job_id: int) -> str:
    job = deidentify_execute(job_id=job_id)
    return job.status if job else "missing"


@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def deidentify_recover_stale_jobs() -> list[int]:
    return deidentify_recover_stale()
