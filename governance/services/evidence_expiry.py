"""The daily expiry check: evidence whose latest revision expires within ``EXPIRING_WITHIN``.

Freshness itself is computed from the dates wherever it is shown (``EvidenceRevision.freshness``);
this job only makes sure somebody hears about it in time. Each revision is flagged once (its
``expiry_flagged_on`` is set, and audited, before the e-mails go out, so a retry never repeats
them); the people told are the owner of the model or dataset the evidence is about and whoever
collected it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from governance.models import EvidenceRevision
from governance.models.audit import AuditAction
from governance.models.evidence import EXPIRING_WITHIN
from governance.services.audit import audit_record

logger = logging.getLogger(__name__)


def expiring_revisions(*, today: dt.date):
    """Latest revisions (one per item) that expire after today and within the warning window."""
    latest = EvidenceRevision.objects.filter(item_id=OuterRef("item_id")).order_by("-number").values("pk")[:1]
    return (EvidenceRevision.objects.filter(pk=Subquery(latest), expires_at__gt=today,
                                            expires_at__lte=today + EXPIRING_WITHIN)
            .select_related("item__model__owner", "item__dataset__owner", "item__created_by", "collector")
            .order_by("expires_at", "pk"))


def _recipients(revision: EvidenceRevision) -> set:
    item = revision.item
    people = {item.model.owner if item.model else None, item.dataset.owner if item.dataset else None,
              item.created_by, revision.collector}
    return {person for person in people if person is not None and person.is_active and person.email}


def evidence_flag_expiring(*, today: dt.date | None = None) -> list[int]:
    """Flag the revisions expiring soon that were not flagged yet, and tell the people responsible.
    Returns the flagged revision ids."""
    today = today or timezone.localdate()
    revisions = list(expiring_revisions(today=today).filter(expiry_flagged_on__isnull=True))
    if not revisions:
        return []
    with transaction.atomic():
        EvidenceRevision.objects.filter(pk__in=[r.pk for r in revisions]).update(expiry_flagged_on=today)
        for revision in revisions:
            audit_record(actor=None, action=AuditAction.UPDATE, obj=revision,
                         changes={"expiry_flagged": str(today), "expires_at": str(revision.expires_at)})
    by_person = defaultdict(list)
    for revision in revisions:
        for person in _recipients(revision):
            by_person[person].append(revision)
    for person, items in by_person.items():
        lines = [f"- {r.item.title} (revision {r.number}) expires on {r.expires_at:%d %B %Y}" for r in items]
        subject = (f"Warden: {len(items)} evidence items expire soon" if len(items) != 1
                   else "Warden: an evidence item expires soon")
        try:
            send_mail(
                subject=subject,
                message="The following evidence expires within "
                        f"{EXPIRING_WITHIN.days} days. Collect a new revision so that the requirements it "
                        "supports stay covered:\n\n" + "\n".join(lines) + "\n",
                from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[person.email],
            )
        except Exception:  # one failing mailbox must not stop the others; the flag is already recorded
            logger.exception("Could not send the evidence expiry notice to user %s", person.pk)
    return [r.pk for r in revisions]
