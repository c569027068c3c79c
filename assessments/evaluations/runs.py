"""Evaluation runs: start, claim, report progress, finish, fail, cancel, re-run, recover.

The life of a run::

    run_start ──(on commit)──> task(run_id) ──> run_execute: run_claim ─> runner ─> run_finish
       queued                                      running   (progress)           succeeded | failed

Exactly once, whatever the workers do. Tasks acknowledge late, so a worker that dies mid-run leaves
its message to be delivered again, and the scheduled sweep (``run_recover_stale``) re-queues runs
whose worker went quiet. Every status change is a conditional UPDATE on the row:

* ``run_claim`` turns queued into running, or takes over a running run whose lease has expired (its
  worker stopped renewing it), and hands out a fresh claim token; anyone else gets nothing to do;
* ``RunContext.progress`` renews the lease only while the token is still ours, and stops the work
  as soon as the run was cancelled or taken over;
* ``run_finish`` locks the row and writes findings, summary, evidence and the final status in one
  transaction, only if the token is still ours. A worker that lost its claim writes nothing.

So a redelivered message, a duplicate, or a sweep racing a slow worker end in one result, one set
of findings and one evidence revision. A run interrupted ``MAX_ATTEMPTS`` times fails with a reason
instead of looping (a file that kills the worker every time it is read).

Failures are recorded in words (``RunFailure`` messages, or a generic sentence naming the run);
tracebacks go to the worker's log, never to the page.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from assessments.models import EvaluationRun, Finding, RunKind, RunStatus, RunTrigger, Severity
from assessments.models.evaluations import ACTIVE_STATUSES, SEVERITY_RANK, FindingChange
from governance import access
from governance.models import DatasetVersion, ModelVersion
from governance.models.audit import AuditAction
from governance.services.audit import audit_record

logger = logging.getLogger(__name__)

# How long a running run belongs to its worker without a sign of life. Every progress report renews
# it. Short enough that a dead worker's run is taken over quickly, long enough to cover the longest
# step between two progress reports.
RUN_LEASE_SECONDS = int(os.environ.get("WARDEN_RUN_LEASE_SECONDS", "120"))
# A queued run whose message may have been lost is sent again after this long (see run_recover_stale).
REDISPATCH_AFTER = timedelta(minutes=30)
MAX_ATTEMPTS = 3
# Test-only: seconds to sleep at every progress report, so that integration tests can kill a worker
# in the middle of a run. Unset (0) everywhere else.
STEP_DELAY_ENV = "WARDEN_TEST_RUN_STEP_DELAY"

RUN_KINDS_BY_TARGET = {
    ModelVersion: (RunKind.ARTIFACT_SCAN, RunKind.FAIRNESS, RunKind.ROBUSTNESS),
    DatasetVersion: (RunKind.DATASET_SCAN,),
}
# Kinds that evaluate a model on an evaluation dataset: they need options (the data and its columns).
MODEL_EVALUATION_KINDS = (RunKind.FAIRNESS, RunKind.ROBUSTNESS)
# The task that executes each kind (module path, task name): looked up lazily to avoid import cycles.
RUN_TASKS = {
    RunKind.ARTIFACT_SCAN: "scan_artifact_run",
    RunKind.DATASET_SCAN: "scan_dataset_run",
    RunKind.FAIRNESS: "evaluate_fairness_run",
    RunKind.ROBUSTNESS: "evaluate_robustness_run",
}


class RunFailure(Exception):
    """The run cannot succeed, for a reason a person can act on. The message is shown on the page."""


class RunInterrupted(Exception):
    """The run was cancelled, or another worker took it over: stop and write nothing."""


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    BUSY = "busy"  # running, and its worker's lease is still valid
    DONE = "done"  # finished, cancelled, gone, or failed for too many interruptions


@dataclass
class FindingData:
    """A finding as a runner reports it, before it is stored."""

    severity: str
    rule_id: str
    title: str
    detail: str = ""
    location: str = ""
    requirement_urns: list[str] = field(default_factory=list)
    control_urns: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    # What identifies the place across versions when the location carries something that changes
    # (the uploaded file's name); the location itself when empty.
    fingerprint_location: str = ""

    def fingerprint(self) -> str:
        # Rule, title and location: stable across runs of the same artifact or dataset, so a finding
        # that is still there is "unchanged" and one that went away is "fixed".
        key = "\x1f".join((self.rule_id, self.title, self.fingerprint_location or self.location))
        return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass
class RunOutcome:
    """What a runner hands back: stored by ``run_finish`` in one transaction."""

    findings: list[FindingData]
    summary: dict
    report: dict
    tool_versions: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    # Side effects that belong to success (e.g. flagging a dataset as cardholder data): called inside
    # the finishing transaction, so they happen exactly once too.
    on_success: Callable[[EvaluationRun], None] | None = None


# --- targets and permissions ---------------------------------------------------------------------------------

def target_parent(target):
    """The model or dataset a version belongs to (what access rules are about)."""
    return target.model if isinstance(target, ModelVersion) else target.dataset


def can_change_target(user, target) -> bool:
    parent = target_parent(target)
    if isinstance(target, ModelVersion):
        return access.can_change_model(user, parent)
    return access.can_change_dataset(user, parent)


def _target_fields(target) -> dict:
    if isinstance(target, ModelVersion):
        return {"model_version": target}
    if isinstance(target, DatasetVersion):
        return {"dataset_version": target}
    raise TypeError(f"runs evaluate model or dataset versions, not {type(target).__name__}")


def target_inputs(target) -> dict:
    """What a run evaluates, by id and hash (kept on the run, so a later look knows exactly what was scanned)."""
    if isinstance(target, ModelVersion):
        return {
            "model_id": target.model_id, "model_version_id": target.pk, "version": target.version,
            "file_name": target.artifact_name, "format": target.artifact_format, "size": target.artifact_size,
            "sha256": target.artifact_sha256,
        }
    return {
        "dataset_id": target.dataset_id, "dataset_version_id": target.pk, "version": target.version,
        "file_name": target.file_name, "format": target.file_format, "size": target.file_size,
        "sha256": target.sha256,
    }


def _check_kind(kind: str, target) -> None:
    allowed = RUN_KINDS_BY_TARGET.get(type(target), ())
    if kind not in allowed:
        raise ValidationError(
            f"A {RunKind(kind).label.lower() if kind in RunKind.values else kind} cannot be run on a "
            f"{target._meta.verbose_name}.", code="bad_kind",
        )


# --- starting --------------------------------------------------------------------------------------------------

def dispatch_run(run_id: int, kind: str) -> None:
    """Send the run's task to the broker (or run it here, in the embedded default)."""
    from assessments import tasks

    task = getattr(tasks, RUN_TASKS[kind])
    try:
        task.delay(run_id)
    except Exception:  # the broker is down: the run stays queued and the sweep sends it again
        logger.exception("Could not queue run %s; the recovery sweep will retry", run_id)


def _active_run(kind: str, target) -> EvaluationRun | None:
    return EvaluationRun.objects.filter(kind=kind, status__in=ACTIVE_STATUSES, **_target_fields(target)).first()


def run_start(
    *, kind: str, target, actor=None, trigger: str = RunTrigger.MANUAL, started_by=None, options: dict | None = None,
) -> EvaluationRun:
    """Queue a run of ``kind`` on ``target`` (a model or dataset version); the task is sent on commit.

    ``actor`` is the person asking (checked: they must be allowed to change the model or dataset);
    with no actor the trigger must be the upload hook or the schedule. A run of the same kind already
    queued or running for the target is returned instead of a second one.
    """
    _check_kind(kind, target)
    from governance.retention.guards import erased_reason

    if erased := erased_reason(target):
        raise ValidationError(erased, code="erased")
    if actor is not None:
        if not can_change_target(actor, target):
            raise PermissionDenied("You may view this but not start evaluations on it.")
    elif trigger not in (RunTrigger.UPLOAD, RunTrigger.SCHEDULE):
        raise ValueError("a run started without an actor must come from an upload or the schedule")
    if kind in MODEL_EVALUATION_KINDS:
        from assessments.evaluations.model_evaluation_options import clean_model_evaluation_options

        options = clean_model_evaluation_options(kind=kind, version=target, options=options, user=actor)
    existing = _active_run(kind, target)
    if existing is not None:
        return existing
    run = EvaluationRun(
        kind=kind, trigger=trigger, started_by=actor or started_by,
        inputs={**target_inputs(target), **({"options": options} if options else {})},
        **_target_fields(target),
    )
    try:
        with transaction.atomic():
            run.save()
            audit_record(actor=actor, action=AuditAction.CREATE, obj=run,
                         changes={"kind": kind, "trigger": trigger, "target": str(target),
                                  "sha256": run.inputs.get("sha256")})
    except IntegrityError:
        # Another request queued the same run a moment ago (one active run per kind and target).
        existing = _active_run(kind, target)
        if existing is None:
            raise
        return existing
    run_id = run.pk
    transaction.on_commit(lambda: dispatch_run(run_id, kind))
    return run


def run_start_for_upload(*, version) -> EvaluationRun | None:
    """The upload hook: scan a new model or dataset version. Call it with ``transaction.on_commit``."""
    kind = RunKind.ARTIFACT_SCAN if isinstance(version, ModelVersion) else RunKind.DATASET_SCAN
    version = type(version).objects.filter(pk=version.pk).first()
    if version is None:  # the upload was rolled back after all
        return None
    return run_start(kind=kind, target=version, trigger=RunTrigger.UPLOAD, started_by=version.created_by)


def run_rerun(*, actor, run: EvaluationRun) -> EvaluationRun:
    if run.kind == RunKind.EXTERNAL:
        raise ValidationError("A result submitted from another tool cannot be re-run here; submit it again.",
                              code="not_rerunnable")
    if not can_change_target(actor, run.target):
        raise PermissionDenied("You may view this run but not start evaluations.")
    return run_start(kind=run.kind, target=run.target, actor=actor, trigger=RunTrigger.MANUAL,
                     options=run.inputs.get("options"))


def run_cancel(*, actor, run: EvaluationRun) -> EvaluationRun:
    """Cancel a queued or running run. A running worker notices at its next progress report and stops."""
    if not can_change_target(actor, run.target):
        raise PermissionDenied("You may view this run but not cancel it.")
    now = timezone.now()
    who = actor.get_full_name() or actor.get_username()
    with transaction.atomic():
        updated = EvaluationRun.objects.filter(pk=run.pk, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.CANCELLED, finished_at=now, claim_token="", lease_expires_at=None,
            progress_message=f"Cancelled by {who}"[:200],
        )
        if not updated:
            raise ValidationError("This run has already finished.", code="finished")
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=run,
                     changes={"status": [run.status, RunStatus.CANCELLED]})
    run.refresh_from_db()
    return run


# --- claiming and progress ---------------------------------------------------------------------------------------

def _lease_end(now=None):
    return (now or timezone.now()) + timedelta(seconds=RUN_LEASE_SECONDS)


def run_claim(*, run_id: int) -> tuple[ClaimOutcome, str]:
    """Take the run for this worker: (CLAIMED, token), or why not."""
    now = timezone.now()
    token = uuid.uuid4().hex
    common = {"claim_token": token, "lease_expires_at": _lease_end(now), "attempts": F("attempts") + 1,
              "progress": 0}
    if EvaluationRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, progress_message="Starting", **common
    ):
        return ClaimOutcome.CLAIMED, token

    stale = EvaluationRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, lease_expires_at__lt=now)
    # A run that has already killed its worker MAX_ATTEMPTS times is not tried again.
    if stale.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=RunStatus.FAILED, finished_at=now, claim_token="", lease_expires_at=None,
        progress_message="Failed",
        error=f"The run was interrupted {MAX_ATTEMPTS} times (its worker stopped or ran out of memory) and was "
              "not tried again. Try a smaller file, or ask an administrator to check the worker's limits.",
    ):
        _audit_status(run_id, RunStatus.FAILED, reason="too many interruptions")
        return ClaimOutcome.DONE, ""
    if stale.update(progress_message="Starting again after an interruption", **common):
        logger.warning("Run %s: its worker stopped renewing the lease; taken over", run_id)
        return ClaimOutcome.CLAIMED, token

    status = EvaluationRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    return (ClaimOutcome.BUSY if status == RunStatus.RUNNING else ClaimOutcome.DONE), ""


def lease_remaining(run_id: int) -> float:
    expires = EvaluationRun.objects.filter(pk=run_id).values_list("lease_expires_at", flat=True).first()
    return max(0.0, (expires - timezone.now()).total_seconds()) if expires else 0.0


class RunContext:
    """Handed to a runner: report progress (which also renews the lease and notices cancellation)."""

    def __init__(self, run: EvaluationRun, token: str):
        self.run = run
        self.token = token
        self._last = -1

    def _mine(self):
        return EvaluationRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING, claim_token=self.token)

    def progress(self, percent: float, message: str = "") -> None:
        delay = float(os.environ.get(STEP_DELAY_ENV, "0") or 0)
        if delay > 0:
            time.sleep(delay)
        percent = max(0, min(99, int(percent)))  # 100 is for a finished run
        percent = max(percent, self._last)
        if not self._mine().update(progress=percent, progress_message=message[:200], lease_expires_at=_lease_end()):
            raise RunInterrupted(f"run {self.run.pk} was cancelled or taken over")
        self._last = percent

    def check(self) -> None:
        """Stop if the run was cancelled, without changing the progress shown."""
        if not self._mine().update(lease_expires_at=_lease_end()):
            raise RunInterrupted(f"run {self.run.pk} was cancelled or taken over")


# --- finishing -----------------------------------------------------------------------------------------------------

def _audit_status(run_id: int, status: str, **changes) -> None:
    run = EvaluationRun.objects.filter(pk=run_id).first()
    if run is not None:
        audit_record(actor=None, action=AuditAction.UPDATE, obj=run, changes={"status": status, **changes})


def previous_run_for(run: EvaluationRun) -> EvaluationRun | None:
    """The run this one is compared with: the last successful run of the same kind on the same
    version; failing that, on the newest earlier version of the same model or dataset."""
    done = EvaluationRun.objects.filter(kind=run.kind, status=RunStatus.SUCCEEDED).exclude(pk=run.pk)
    if run.model_version_id:
        same = done.filter(model_version_id=run.model_version_id)
        earlier = done.filter(model_version__model_id=run.model_version.model_id,
                              model_version__created_at__lt=run.model_version.created_at)
    else:
        same = done.filter(dataset_version_id=run.dataset_version_id)
        earlier = done.filter(dataset_version__dataset_id=run.dataset_version.dataset_id,
                              dataset_version__created_at__lt=run.dataset_version.created_at)
    return same.order_by("-finished_at", "-pk").first() or earlier.order_by("-finished_at", "-pk").first()


def _unique_findings(findings: Iterable[FindingData]) -> list[tuple[str, FindingData, int]]:
    """One stored finding per fingerprint; repeats are counted on the first."""
    seen: dict[str, tuple[FindingData, int]] = {}
    for finding in findings:
        key = finding.fingerprint()
        first, count = seen.get(key, (finding, 0))
        seen[key] = (first, count + 1)
    return [(key, finding, count) for key, (finding, count) in seen.items()]


def store_findings(run: EvaluationRun, findings: Iterable[FindingData], previous: EvaluationRun | None) -> dict:
    """Create the run's findings, marked new or unchanged against ``previous``; return the comparison."""
    before = {}
    if previous is not None:
        before = {row["fingerprint"]: row for row in previous.findings.values(
            "fingerprint", "severity", "rule_id", "title", "location")}
    rows = []
    for key, item, count in _unique_findings(findings):
        severity = item.severity if item.severity in SEVERITY_RANK else Severity.INFO
        data = dict(item.data)
        if count > 1:
            data["occurrences"] = count
        rows.append(Finding(
            run=run, severity=severity, severity_rank=SEVERITY_RANK[severity], rule_id=item.rule_id[:120],
            title=item.title[:300], detail=item.detail, location=item.location[:500],
            requirement_urns=sorted(set(item.requirement_urns)), control_urns=sorted(set(item.control_urns)),
            data=data, fingerprint=key,
            change=(FindingChange.UNCHANGED if key in before else FindingChange.NEW) if previous else "",
        ))
    Finding.objects.bulk_create(rows)
    current = {row.fingerprint for row in rows}
    fixed = [
        {key: value for key, value in row.items() if key != "fingerprint"}
        for fingerprint, row in before.items() if fingerprint not in current
    ]
    return {
        "previous_run": previous.pk if previous else None,
        "new": sum(1 for row in rows if row.change == FindingChange.NEW),
        "unchanged": sum(1 for row in rows if row.change == FindingChange.UNCHANGED),
        "fixed": len(fixed),
        "fixed_findings": sorted(fixed, key=lambda f: (-SEVERITY_RANK.get(f["severity"], 0), f["rule_id"]))[:50],
    }


def severity_counts(findings: Iterable) -> dict[str, int]:
    counts = {severity.value: 0 for severity in Severity}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


def run_finish(ctx: RunContext, outcome: RunOutcome) -> EvaluationRun:
    """Store the result, exactly once: only while this worker still holds the run."""
    from assessments.evaluations.evidence import run_evidence_record

    with transaction.atomic():
        run = (EvaluationRun.objects.select_for_update(of=("self",))
               .select_related("model_version__model", "dataset_version__dataset").get(pk=ctx.run.pk))
        if run.status != RunStatus.RUNNING or run.claim_token != ctx.token:
            raise RunInterrupted(f"run {run.pk} was cancelled or taken over before it finished")
        previous = previous_run_for(run)
        changes = store_findings(run, outcome.findings, previous)
        stored = list(run.findings.all())
        run.summary = {
            **outcome.summary,
            "counts": severity_counts(stored),
            "max_severity": max((f.severity for f in stored), key=lambda s: SEVERITY_RANK[s], default=None),
            "changes": changes,
        }
        run.report = outcome.report
        run.tool_versions = outcome.tool_versions
        run.inputs = {**run.inputs, **outcome.inputs}
        run.previous_run = previous
        run.status = RunStatus.SUCCEEDED
        run.progress = 100
        run.progress_message = "Done"
        run.finished_at = timezone.now()
        run.claim_token = ""
        run.lease_expires_at = None
        run.save(update_fields=["summary", "report", "tool_versions", "inputs", "previous_run", "status", "progress",
                                "progress_message", "finished_at", "claim_token", "lease_expires_at"])
        if outcome.on_success is not None:
            outcome.on_success(run)
        run_evidence_record(run=run, findings=stored)
        audit_record(actor=None, action=AuditAction.UPDATE, obj=run,
                     changes={"status": RunStatus.SUCCEEDED, "findings": run.summary["counts"],
                              "attempt": run.attempts})
    return run


def run_fail(ctx: RunContext, message: str) -> bool:
    """Record a readable failure, if the run is still ours. Returns whether it was recorded."""
    with transaction.atomic():
        updated = ctx._mine().update(
            status=RunStatus.FAILED, error=message[:1000], finished_at=timezone.now(), claim_token="",
            lease_expires_at=None, progress_message="Failed",
        )
        if updated:
            _audit_status(ctx.run.pk, RunStatus.FAILED, error=message[:200])
    return bool(updated)


def run_release(ctx: RunContext) -> None:
    """Give a run back to the queue (a transient error: the task is retried and claims it afresh)."""
    try:
        ctx._mine().update(status=RunStatus.QUEUED, claim_token="", lease_expires_at=None,
                           progress_message="Waiting to retry after a temporary error")
    except Exception:  # the database itself is away: the lease runs out and the sweep recovers the run
        logger.exception("Could not release run %s", ctx.run.pk)


UNEXPECTED = ("The evaluation stopped because of an unexpected error (run {id}). It has been logged for the "
              "administrators; you can re-run it.")


def run_execute(*, run_id: int, runner: Callable[[EvaluationRun, RunContext], RunOutcome] | None = None,
                transient: tuple[type[BaseException], ...] = ()) -> ClaimOutcome | EvaluationRun:
    """Claim the run and execute it. Returns the finished run, or the claim outcome when there was
    nothing for this worker to do."""
    from assessments.evaluations.runners import RUNNERS

    outcome, token = run_claim(run_id=run_id)
    if outcome != ClaimOutcome.CLAIMED:
        return outcome
    run = EvaluationRun.objects.select_related(
        "model_version__model", "dataset_version__dataset", "started_by").get(pk=run_id)
    ctx = RunContext(run, token)
    runner = runner or RUNNERS[run.kind]
    try:
        result = runner(run, ctx)
        return run_finish(ctx, result)
    except RunInterrupted:
        logger.info("Run %s was cancelled or taken over; this worker stops", run_id)
        return ClaimOutcome.DONE
    except RunFailure as exc:
        run_fail(ctx, str(exc))
    except transient:
        run_release(ctx)
        raise
    except MemoryError:
        run_fail(ctx, "The evaluation ran out of memory and was stopped. Try a smaller file, or ask an "
                      "administrator to raise the worker's memory limit.")
    except Exception as exc:
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            run_fail(ctx, "The evaluation took longer than its time limit and was stopped.")
        else:
            logger.exception("Run %s failed", run_id)
            run_fail(ctx, UNEXPECTED.format(id=run_id))
    return EvaluationRun.objects.get(pk=run_id)


# --- schedule and recovery -----------------------------------------------------------------------------------------

def run_recover_stale(*, now=None) -> list[int]:
    """Send again the runs whose worker died (lease expired) or whose message may have been lost
    (queued for a long time). The task's claim decides; sending twice is harmless."""
    now = now or timezone.now()
    stale = list(
        EvaluationRun.objects.filter(
            Q(status=RunStatus.RUNNING, lease_expires_at__lt=now)
            | Q(status=RunStatus.QUEUED, queued_at__lt=now - REDISPATCH_AFTER)
            & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        ).exclude(kind=RunKind.EXTERNAL).values_list("pk", "kind", "status")[:500]
    )
    for run_id, kind, status in stale:
        if status == RunStatus.QUEUED:
            # For a queued run the lease says "not sent again before": at most one copy per period.
            EvaluationRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
                lease_expires_at=now + REDISPATCH_AFTER)
        dispatch_run(run_id, kind)
    return [run_id for run_id, _, _ in stale]


RESCAN_AFTER = timedelta(days=7)
RESCAN_BATCH = 500


def run_schedule_rescans(*, now=None) -> list[int]:
    """The weekly re-scan: the newest version of every model and dataset, and every deployed model
    version, unless scanned in the last week. Scanners learn new tricks; old files meet new rules."""
    from governance.models import Dataset, MLModel
    from governance.models.inventory import VersionStatus

    now = now or timezone.now()
    cutoff = now - RESCAN_AFTER
    targets: list[tuple[str, object]] = []
    model_versions = {v.pk: v for v in ModelVersion.objects.filter(status=VersionStatus.DEPLOYED)}
    for model in MLModel.objects.all().only("pk"):
        latest = model.versions.order_by("-created_at", "-id").first()
        if latest is not None:
            model_versions.setdefault(latest.pk, latest)
    recent = set(EvaluationRun.objects.filter(kind=RunKind.ARTIFACT_SCAN, queued_at__gte=cutoff)
                 .values_list("model_version_id", flat=True))
    targets += [(RunKind.ARTIFACT_SCAN, v) for pk, v in model_versions.items() if pk not in recent]
    recent = set(EvaluationRun.objects.filter(kind=RunKind.DATASET_SCAN, queued_at__gte=cutoff)
                 .values_list("dataset_version_id", flat=True))
    for dataset in Dataset.objects.all().only("pk"):
        latest = dataset.versions.filter(erased_at__isnull=True).order_by("-created_at", "-id").first()
        if latest is not None and latest.pk not in recent:
            targets.append((RunKind.DATASET_SCAN, latest))
    started = []
    for kind, target in targets[:RESCAN_BATCH]:
        started.append(run_start(kind=kind, target=target, trigger=RunTrigger.SCHEDULE).pk)
    return started
