"""Celery tasks of the core: they take ids and call a service."""

from celery import shared_task

from governance.deidentify.tasks import deidentify_dataset_version  # noqa: F401 - registers it
from governance.packs.tasks import flag_expiring_evidence, render_evidence_pack  # noqa: F401 - registers them
from governance.retention.tasks import retention_daily_sweep  # noqa: F401 - registers it
from governance.services.inventory import dataset_version_profile


@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def profile_dataset_version(version_id: int) -> str:
    version = dataset_version_profile(version_id=version_id)
    return version.profile_status if version else "missing"
