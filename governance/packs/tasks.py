"""Celery tasks for evidence packs. Names starting ``render_`` go to the ``pdf`` queue
(``CELERY_TASK_ROUTES``). Registered through ``governance.tasks``, which imports this module."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from governance.packs.services import pack_build, pack_recover_stale
from governance.services.evidence_expiry import evidence_flag_expiring

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
PACK_SOFT_LIMIT, PACK_HARD_LIMIT = 1500, 1560


@shared_task(name="governance.tasks.render_evidence_pack", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=True, retry_backoff_max=300, max_retries=5, soft_time_limit=PACK_SOFT_LIMIT,
             time_limit=PACK_HARD_LIMIT)
def render_evidence_pack(pack_pk: int) -> str:
    pack = pack_build(pack_pk=pack_pk)
    return pack.status if pack is not None else "busy"


@shared_task(name="governance.tasks.render_recover_stale_packs", acks_late=True)
def recover_stale_packs() -> int:
    """Every few minutes (beat): send again packs whose worker died or whose message was lost."""
    return len(pack_recover_stale())


@shared_task(name="governance.tasks.evidence_flag_expiring", acks_late=True)
def flag_expiring_evidence() -> int:
    """Daily (beat): tell the people responsible about evidence that expires within 30 days."""
    return len(evidence_flag_expiring())
