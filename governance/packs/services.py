"""Requesting and building evidence packs.

The life of a pack follows the evaluation runs (assessments/evaluations/runs.py)::

    pack_request ──(on commit)──> render_evidence_pack(pk) ──> pack_build: claim > collect > render > sign > store
       queued                                                    running (progress)            succeeded | failed

Every status change is a conditional UPDATE: a worker claims the pack (queued → running, or a running
pack whose lease ran out because its worker died) with a fresh token, renews the lease with each
progress report, and stores the result only while it still holds the claim. A redelivered message
or a second worker therefore ends in one file and one audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import uuid
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from governance.models import EvidencePack, PackStatus
from governance.models.audit import AuditAction
from governance.packs.scope import PackScope, check_period, check_scope, scope_of
from governance.services.audit import audit_record

logger = logging.getLogger(__name__)

LEASE_SECONDS = 300
MAX_ATTEMPTS = 3
# A queued pack whose message may have been lost is sent again after this long (pack_recover_stale).
REDISPATCH_AFTER = timedelta(minutes=30)


class PackInterrupted(Exception):
    """Another worker took the pack over: stop and write nothing."""


def _display(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def dispatch_pack(pack_pk: int) -> None:
    from governance.packs.tasks import render_evidence_pack

    try:
        render_evidence_pack.delay(pack_pk)
    except Exception:  # the broker is away: the pack stays queued; asking again re-sends it
        logger.exception("Could not queue evidence pack %s", pack_pk)


def pack_request(*, actor, scope: PackScope, period_start: dt.date, period_end: dt.date,
                 dispatch: bool = True) -> EvidencePack:
    """Queue a pack of ``scope`` for the period; built by a worker on the ``pdf`` queue after commit.

    ``actor`` None is a system-built pack (the build_pack command, which builds it itself:
    ``dispatch=False``). A pack of the same scope and period already queued or building for the same
    person is returned instead of a second one.
    """
    check_scope(actor, scope)
    check_period(period_start, period_end)
    existing = EvidencePack.objects.filter(
        scope_key=scope.key, period_start=period_start, period_end=period_end,
        status__in=(PackStatus.QUEUED, PackStatus.RUNNING), requested_by=actor,
    ).first()
    if existing is not None:
        return existing
    pack = EvidencePack(
        scope_kind=scope.kind, model=scope.model, framework=scope.framework, business_unit=scope.business_unit,
        scope_key=scope.key, scope_label=scope.label[:300], period_start=period_start, period_end=period_end,
        requested_by=actor, progress_message="Waiting for a worker",
    )
    with transaction.atomic():
        pack.full_clean(exclude=["file"])
        pack.save()
        audit_record(actor=actor, action=AuditAction.CREATE, obj=pack,
                     changes={"scope": scope.key, "period": [str(period_start), str(period_end)]})
    pack_pk = pack.pk
    if dispatch:
        transaction.on_commit(lambda: dispatch_pack(pack_pk))
    return pack


# --- claiming and progress ---------------------------------------------------------------------------------

def pack_claim(pack_pk: int) -> str | None:
    """A claim token for this worker, or None when there is nothing for it to do."""
    now = timezone.now()
    token = uuid.uuid4().hex
    common = {"claim_token": token, "lease_expires_at": now + timedelta(seconds=LEASE_SECONDS),
              "attempts": F("attempts") + 1, "progress": 0}
    if EvidencePack.objects.filter(pk=pack_pk, status=PackStatus.QUEUED).update(
            status=PackStatus.RUNNING, started_at=now, progress_message="Starting", **common):
        return token
    stale = EvidencePack.objects.filter(pk=pack_pk, status=PackStatus.RUNNING, lease_expires_at__lt=now)
    if stale.filter(attempts__gte=MAX_ATTEMPTS).update(
            status=PackStatus.FAILED, finished_at=now, claim_token="", lease_expires_at=None,
            progress_message="Failed",
            error=f"Building the pack was interrupted {MAX_ATTEMPTS} times and was not tried again."):
        return None
    if stale.update(progress_message="Starting again after an interruption", **common):
        return token
    return None


class PackProgress:
    def __init__(self, pack_pk: int, token: str):
        self.pack_pk, self.token, self._last = pack_pk, token, 0

    def _mine(self):
        return EvidencePack.objects.filter(pk=self.pack_pk, status=PackStatus.RUNNING, claim_token=self.token)

    def __call__(self, percent: float, message: str = "") -> None:
        percent = max(self._last, max(0, min(99, int(percent))))
        lease = timezone.now() + timedelta(seconds=LEASE_SECONDS)
        if not self._mine().update(progress=percent, progress_message=message[:200], lease_expires_at=lease):
            raise PackInterrupted(f"pack {self.pack_pk} was taken over")
        self._last = percent


def _previous(pack: EvidencePack) -> EvidencePack | None:
    return (EvidencePack.objects.filter(scope_key=pack.scope_key, status=PackStatus.SUCCEEDED)
            .exclude(pk=pack.pk).order_by("-finished_at", "-id").first())


def _fail(progress: PackProgress, message: str) -> None:
    with transaction.atomic():
        if progress._mine().update(status=PackStatus.FAILED, error=message[:1000], finished_at=timezone.now(),
                                   claim_token="", lease_expires_at=None, progress_message="Failed"):
            audit_record(actor=None, action=AuditAction.UPDATE, object_type="governance.EvidencePack",
                         object_id=str(progress.pack_pk), object_repr=f"Evidence pack {progress.pack_pk}",
                         changes={"status": PackStatus.FAILED, "error": message[:200]})


def pack_build(*, pack_pk: int) -> EvidencePack | None:
    """Build, sign and store a queued pack (the task's work). Returns the pack, or None when another
    worker has it."""
    from governance.packs.content import collect_pack
    from governance.packs.render import render_pack
    from governance.packs.signing import SigningUnavailable, load_signer, sign_pdf, signer_info

    token = pack_claim(pack_pk)
    if token is None:
        return None
    pack = EvidencePack.objects.select_related("model", "framework", "business_unit", "requested_by").get(pk=pack_pk)
    progress = PackProgress(pack_pk, token)
    try:
        try:
            signer = load_signer()
        except SigningUnavailable as exc:
            _fail(progress, str(exc))
            return EvidencePack.objects.get(pk=pack_pk)
        progress(3, "Collecting the evidence")
        started = time.perf_counter()
        content = collect_pack(scope=scope_of(pack), user=pack.requested_by, period_start=pack.period_start,
                               period_end=pack.period_end, progress=progress)
        previous = _previous(pack)
        info = signer_info(signer)
        meta = {
            "pack_id": str(pack.pack_id),
            "scope": {"kind": pack.scope_kind, "key": pack.scope_key, "label": pack.scope_label},
            "period": {"start": pack.period_start.isoformat(), "end": pack.period_end.isoformat()},
            "generated_at": timezone.now().isoformat(),
            "generated_by": _display(pack.requested_by),
            "previous_pack_id": str(previous.pack_id) if previous else None,
            "previous_pack_sha256": previous.sha256 if previous else None,
            "signer": {"subject": info.subject, "fingerprint_sha256": info.fingerprint},
        }
        progress(40, "Rendering the PDF")
        rendered = render_pack(content=content, meta=meta)
        render_seconds = time.perf_counter() - started
        progress(85, "Signing")
        started = time.perf_counter()
        signed = sign_pdf(rendered.pdf, signer=signer, reason=f"Warden evidence pack {pack.pack_id}",
                          location=pack.scope_label[:120])
        sign_seconds = time.perf_counter() - started
        progress(95, "Storing the signed pack")
        digest = hashlib.sha256(signed).hexdigest()
        stored = default_storage.save(f"packs/{pack.pack_id}.pdf", ContentFile(signed))
        try:
            with transaction.atomic():
                updated = progress._mine().update(
                    status=PackStatus.SUCCEEDED, progress=100, progress_message="Ready", finished_at=timezone.now(),
                    claim_token="", lease_expires_at=None, file=stored, size=len(signed), sha256=digest,
                    page_count=rendered.pages, item_count=len(content.evidence), signer_subject=info.subject[:300],
                    signer_fingerprint=info.fingerprint, previous_pack=previous,
                    previous_sha256=previous.sha256 if previous else "", render_seconds=render_seconds,
                    sign_seconds=sign_seconds,
                )
                if not updated:
                    raise PackInterrupted(f"pack {pack_pk} was taken over before it was stored")
                audit_record(actor=None, action=AuditAction.UPDATE, obj=pack,
                             changes={"status": PackStatus.SUCCEEDED, "sha256": digest, "pages": rendered.pages,
                                      "signer": info.fingerprint})
        except BaseException:
            default_storage.delete(stored)
            raise
    except PackInterrupted:
        logger.info("Evidence pack %s was taken over; this worker stops", pack_pk)
        return None
    except MemoryError:
        _fail(progress, "Building the pack ran out of memory. Choose a smaller scope or a shorter period.")
    except Exception as exc:
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            _fail(progress, "Building the pack took longer than its time limit. Choose a smaller scope.")
        else:
            logger.exception("Evidence pack %s failed", pack_pk)
            _fail(progress, f"The pack could not be built because of an unexpected error (pack {pack_pk}). "
                            "It has been logged for the administrators; you can ask for it again.")
    return EvidencePack.objects.get(pk=pack_pk)


def pack_recover_stale(*, now=None) -> list[int]:
    """Send again the packs whose worker died (lease run out) or whose message may have been lost
    (queued for long). The claim decides who builds; sending twice is harmless."""
    now = now or timezone.now()
    stale = list(EvidencePack.objects.filter(
        Q(status=PackStatus.RUNNING, lease_expires_at__lt=now)
        | Q(status=PackStatus.QUEUED, queued_at__lt=now - REDISPATCH_AFTER)
        & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
    ).values_list("pk", "status")[:200])
    for pack_pk, status in stale:
        if status == PackStatus.QUEUED:
            # For a queued pack the lease says "not sent again before": one copy per period at most.
            EvidencePack.objects.filter(pk=pack_pk, status=PackStatus.QUEUED).update(
                lease_expires_at=now + REDISPATCH_AFTER)
        dispatch_pack(pack_pk)
    return [pack_pk for pack_pk, _ in stale]


def pack_download_record(*, actor, pack: EvidencePack) -> None:
    """Every download of a pack lands in the audit trail."""
    if pack.status != PackStatus.SUCCEEDED:
        raise ValidationError("This pack is not ready.", code="not_ready")
    audit_record(actor=actor, action=AuditAction.DOWNLOAD, obj=pack,
                 changes={"file": pack.file_name, "sha256": pack.sha256})
