"""De-identified copies of dataset versions: asking for one (a page or the API) and making it (a worker).

The worker streams the source through the encrypted storage chunk by chunk (``core``), writes the
copy to an encrypted scratch file, and hands that to ``inventory.dataset_version_create`` like an
upload: the copy gets the same checks, SHA-256, audit entry, profiling and an automatic dataset scan
as any version, and the job row is its lineage (``DeidentificationJob.result_version`` ←
``source_version``). No plaintext touches the disk: the scratch file is encrypted too, and removed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import PurePosixPath

from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from governance import access
from governance.deidentify import core
from governance.models import DatasetVersion
from governance.models.audit import AuditAction
from governance.models.data_protection import ACTIVE_DEIDENTIFY_STATUSES, DeidentificationJob, DeidentifyStatus
from governance.models.inventory import DatasetFormat
from governance.services.audit import audit_record

logger = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
# The task's limits (seconds): 1,000,000 rows take about half a minute (bench/deidentify.py), so the
# largest upload allowed is well inside them.
SOFT_TIME_LIMIT = 1500
TIME_LIMIT = 1800
# A job still "running" this long after it started lost its worker: no live worker runs it any more.
STALE_AFTER = timedelta(seconds=TIME_LIMIT + 300)
MAX_ATTEMPTS = 3


def latest_scan(version: DatasetVersion):
    """The newest finished dataset scan of the version, or None."""
    from assessments.models import EvaluationRun, RunKind, RunStatus  # assessments builds on governance

    return (EvaluationRun.objects.filter(kind=RunKind.DATASET_SCAN, status=RunStatus.SUCCEEDED, dataset_version=version)
            .order_by("-finished_at", "-id").only("pk", "summary", "finished_at").first())


def personal_data_columns(version: DatasetVersion) -> tuple[dict[str, list[str]], object]:
    scan = latest_scan(version)
    pii = dict((scan.summary or {}).get("personal_data_columns") or {}) if scan else {}
    return {str(column): list(kinds) for column, kinds in pii.items()}, scan


def _clean_label(*, version: DatasetVersion, label: str) -> str:
    label = (label or "").strip()
    if not label:
        raise ValidationError({"new_version": "Enter a label for the new version."}, code="required")
    if len(label) > 60 or any(ord(char) < 32 or ord(char) == 127 for char in label):
        raise ValidationError({"new_version": "Use at most 60 characters and no control characters."}, code="bad_label")
    taken = version.dataset.versions.filter(version=label).exists() or DeidentificationJob.objects.filter(
        source_version__dataset=version.dataset, new_version=label, status__in=ACTIVE_DEIDENTIFY_STATUSES).exists()
    if taken:
        raise ValidationError({"new_version": f"Version '{label}' of this dataset already exists."}, code="duplicate")
    return label


def deidentify_request(*, actor, version: DatasetVersion, new_version: str, rules: dict,
                       quasi_identifiers) -> DeidentificationJob:
    """Check the request and queue the work. Raises PermissionDenied or ValidationError (nothing saved)."""
    if not access.can_change_dataset(actor, version.dataset):
        raise PermissionDenied("You may view this dataset but not add versions to it.")
    if version.erased_at is not None:
        raise ValidationError("This version was erased: there is nothing left to copy.", code="erased")
    columns = version.column_names
    if not columns:
        raise ValidationError("The columns of this version are not known yet.", code="no_columns")
    pii, _ = personal_data_columns(version)
    label = _clean_label(version=version, label=new_version)
    try:
        cleaned, quasi = core.clean_rules(rules, columns, quasi_identifiers, pii=pii)
    except core.RuleError as exc:
        raise ValidationError({(column or "__all__"): messages for column, messages in exc.errors.items()},
                              code="bad_rules") from None
    if any(rule.action == "pseudonymise" for rule in cleaned.values()):
        _pseudonymiser()  # a missing key is the asker's error now, not the worker's later
    job = DeidentificationJob(
        source_version=version, new_version=label, rules={c: r.to_dict() for c, r in cleaned.items()},
        quasi_identifiers=quasi, created_by=actor,
    )
    with transaction.atomic():
        job.save()
        audit_record(actor=actor, action=AuditAction.CREATE, obj=job, changes={
            "source_version": str(version), "source_sha256": version.sha256, "new_version": label,
            "rules": job.rules, "quasi_identifiers": quasi,
        })
        job_id = job.pk
        transaction.on_commit(lambda: _queue(job_id))
    return job


def _queue(job_id: int) -> None:
    from governance.deidentify.tasks import deidentify_dataset_version

    try:
        deidentify_dataset_version.delay(job_id)
    except Exception:  # the broker is down: the job stays queued; the page offers to send it again
        logger.exception("Could not queue de-identification job %s", job_id)


def _pseudonymiser() -> core.Pseudonymiser:
    from governance.deidentify.keys import load_pseudonym_key

    try:
        key = load_pseudonym_key()
    except ImproperlyConfigured as exc:
        raise ValidationError(f"Pseudonymising is not possible here: {exc}", code="no_key") from None
    return core.Pseudonymiser(key.key, key.key_id)


def _claim(job_id: int) -> bool:
    now = timezone.now()
    return bool(DeidentificationJob.objects.filter(
        Q(status=DeidentifyStatus.QUEUED) | Q(status=DeidentifyStatus.RUNNING, started_at__lt=now - STALE_AFTER),
        pk=job_id, attempts__lt=MAX_ATTEMPTS,
    ).update(status=DeidentifyStatus.RUNNING, started_at=now, attempts=F("attempts") + 1, progress=1,
             message="Reading the source", error=""))


def _fail(job: DeidentificationJob, message: str) -> DeidentificationJob:
    DeidentificationJob.objects.filter(pk=job.pk, status=DeidentifyStatus.RUNNING).update(
        status=DeidentifyStatus.FAILED, error=message[:500], message="", finished_at=timezone.now())
    audit_record(actor=None, action=AuditAction.UPDATE, obj=job, changes={"status": "failed", "error": message[:500]})
    job.refresh_from_db()
    return job


def deidentify_execute(*, job_id: int) -> DeidentificationJob | None:
    """Make the copy (in a worker). Idempotent: a job that is done, or running elsewhere, is left alone."""
    if not _claim(job_id):
        return DeidentificationJob.objects.filter(pk=job_id).first()
    job = DeidentificationJob.objects.select_related("source_version__dataset", "created_by").get(pk=job_id)
    source = job.source_version
    if source.erased_at is not None:
        return _fail(job, "The source version was erased before the copy was made.")
    rules = {column: core.ColumnRule(spec["action"], spec.get("param")) for column, spec in job.rules.items()}
    try:
        pseudonymiser = _pseudonymiser() if any(r.action == "pseudonymise" for r in rules.values()) else None
    except ValidationError as exc:
        return _fail(job, " ".join(exc.messages))
    is_parquet = source.file_format == DatasetFormat.PARQUET
    extension = ".parquet" if is_parquet else ".csv"
    scratch = f"deidentify/{job.pk}-{uuid.uuid4().hex}{extension}"
    total = source.row_count or 0
    last = [0]

    def progress(rows: int) -> None:
        percent = min(90, 5 + int(85 * rows / total)) if total else 50
        if percent != last[0]:
            last[0] = percent
            DeidentificationJob.objects.filter(pk=job.pk).update(
                progress=percent, message=f"De-identified {rows:,} of {total:,} rows" if total else
                f"De-identified {rows:,} rows")

    stream = core.deidentify_parquet if is_parquet else core.deidentify_csv
    try:
        with source.file.open("rb") as handle, default_storage.open(scratch, "wb") as sink:
            result = stream(handle, sink, rules=rules, quasi_identifiers=job.quasi_identifiers,
                            pseudonymiser=pseudonymiser, chunk_rows=CHUNK_ROWS, progress=progress)
        DeidentificationJob.objects.filter(pk=job.pk).update(progress=92, message="Storing the copy")
        if DatasetVersion.objects.filter(pk=source.pk, erased_at__isnull=False).exists():
            # Erased while we read it (an open file outlives its unlinking): the copy must not outlive it.
            return _fail(job, "The source version was erased while the copy was being made; the copy was discarded.")
        stem = PurePosixPath(source.file_name).stem[:150] or "dataset"
        kept_sensitive = [column for column in source.sensitive_columns if column in result.columns]
        with default_storage.open(scratch, "rb") as stored:
            created = _create_version(job, File(stored, name=f"{stem}-deidentified{extension}"), kept_sensitive,
                                      result)
    except ValidationError as exc:
        return _fail(job, "The copy could not be stored: " + " ".join(exc.messages))
    except PermissionDenied:
        return _fail(job, f"{job.created_by} may no longer add versions to this dataset.")
    except (ValueError, UnicodeDecodeError, OSError) as exc:  # pandas/pyarrow parse errors are ValueErrors
        logger.warning("De-identification job %s failed: %s", job.pk, exc)
        return _fail(job, f"The source could not be read in full: {str(exc)[:300]}")
    except MemoryError:
        return _fail(job, "The copy ran out of memory and was stopped; ask an administrator to raise the worker's "
                          "memory limit.")
    except Exception as exc:
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            return _fail(job, f"The copy took longer than {SOFT_TIME_LIMIT // 60} minutes and was stopped.")
        logger.exception("De-identification job %s failed", job.pk)
        return _fail(job, f"The copy failed unexpectedly (job {job.pk}); the reason is in the worker's log.")
    finally:
        default_storage.delete(scratch)
    summary = {**result.to_dict(), "pseudonym_key_id": pseudonymiser.key_id if pseudonymiser else None}
    with transaction.atomic():
        DeidentificationJob.objects.filter(pk=job.pk).update(
            status=DeidentifyStatus.SUCCEEDED, progress=100, message="", result_version=created, summary=summary,
            k_anonymity=result.k_anonymity.get("k"), finished_at=timezone.now())
        audit_record(actor=None, action=AuditAction.UPDATE, obj=job, changes={
            "status": "succeeded", "result_version": str(created), "sha256": created.sha256,
            "rows": result.rows, "k_anonymity": result.k_anonymity.get("k"),
        })
    job.refresh_from_db()
    return job


def _create_version(job: DeidentificationJob, upload: File, sensitive: list[str], result) -> DatasetVersion:
    from governance.services import inventory

    rules = ", ".join(f"{column}: {spec['action']}" for column, spec in job.rules.items() if spec["action"] != "keep")
    k = result.k_anonymity.get("k")
    notes = (f"De-identified copy of version {job.source_version.version} (job {job.pk}). {rules}."
             + (f" k-anonymity {k} over {', '.join(job.quasi_identifiers)}." if k is not None else ""))
    return inventory.dataset_version_create(
        actor=job.created_by, dataset=job.source_version.dataset, version=job.new_version, file=upload,
        sensitive_columns=sensitive, notes=notes[:2000],
    )


REDISPATCH_AFTER = timedelta(minutes=10)


def deidentify_recover_stale(*, now=None) -> list[int]:
    """Send again the jobs whose message was lost (queued for long) or whose worker died (running for
    longer than a job may run). The claim decides who works on a job; sending twice is harmless."""
    now = now or timezone.now()
    stale = list(DeidentificationJob.objects.filter(
        Q(status=DeidentifyStatus.QUEUED, created_at__lt=now - REDISPATCH_AFTER)
        | Q(status=DeidentifyStatus.RUNNING, started_at__lt=now - STALE_AFTER),
        attempts__lt=MAX_ATTEMPTS,
    ).values_list("pk", flat=True)[:100])
    for job_id in stale:
        _queue(job_id)
    # A job that has used up its attempts will not finish: say so instead of leaving it running.
    DeidentificationJob.objects.filter(status=DeidentifyStatus.RUNNING, started_at__lt=now - STALE_AFTER,
                                       attempts__gte=MAX_ATTEMPTS).update(
        status=DeidentifyStatus.FAILED, finished_at=now, message="",
        error=f"The copy was interrupted {MAX_ATTEMPTS} times (the worker stopped each time) and was given up.")
    return stale


def deidentify_requeue(*, actor, job: DeidentificationJob) -> DeidentificationJob:
    """Send a queued job again (its message may have been lost while the broker was down)."""
    if not access.can_change_dataset(actor, job.source_version.dataset):
        raise PermissionDenied("You may not start work on this dataset.")
    if job.status != DeidentifyStatus.QUEUED:
        raise ValidationError("Only a queued job can be sent again.", code="not_queued")
    transaction.on_commit(lambda: _queue(job.pk))
    return job
