"""A short-lived cache of gate decisions, so that pipelines asking again and again get an answer fast.

Admission controllers and deploy jobs ask about the same few artifacts many times a minute; working
the decision out again costs about ten queries each time. The *unsigned* decision is cached per
(API token, SHA-256, day, configuration); every answer still gets a fresh ``iat``, ``jti`` and signature.

Correctness rests on generation counters in the shared cache (Redis in production): one for the
whole gate, one per artifact SHA-256. A cached decision is used only while both generations it was
worked out under are still current, and every change to what the gate reads bumps one of them once
its transaction commits (``watched_models``):

* a run, sign-off or lifecycle event: the artifact of its version;
* an assessment, a risk or the model itself: the artifacts of every version of the model;
* a training assignment: the artifacts of the models its person owns (most people own none, so
  staff taking their training empties nothing);
* anything else (versions, users, tokens, grants, business units, modules): the whole gate.

The generations are read *before* the database, so a decision worked out while a change commits is
stored under the old generation, which the bump then makes unusable. The entry's expiry
(``WARDEN_GATE_CACHE_SECONDS``) only bounds the damage of a change made behind Django's back (raw
SQL, a bump lost while Redis was down); the day in the key covers training that falls due at midnight.

The cache must be shared by every process that serves the gate or changes its inputs, so it is off
unless the cache backend is shared (Redis), or the setting turns it on explicitly (tests, a
single-process server). A cache error never fails the gate: it answers from the database instead.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time

from django.conf import settings
from django.core import checks
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

logger = logging.getLogger("assessments.gate")

GENERATION_KEY = "warden:gate:generation"
SHARED_BACKENDS = ("django.core.cache.backends.redis.RedisCache",)
DEFAULT_SECONDS = 60
# In the entry's key, so that entries an earlier release kept in another shape are never read.
ENTRY_FORMAT = 2
ENTRY_FIELDS = {"generations", "username", "claims", "summary"}


def enabled() -> bool:
    seconds = settings.WARDEN_GATE_CACHE_SECONDS
    if seconds is None:  # not set: on where the cache is shared between processes
        return settings.CACHES["default"]["BACKEND"] in SHARED_BACKENDS
    return seconds > 0


@checks.register(checks.Tags.caches)
def gate_cache_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Turned on by hand over a cache that each process keeps for itself, a change made in a worker or
    another web process would not reach this one's cached answers: said at every start."""
    seconds = settings.WARDEN_GATE_CACHE_SECONDS
    backend = settings.CACHES["default"]["BACKEND"]
    if seconds and backend not in SHARED_BACKENDS:
        return [checks.Warning(
            f"WARDEN_GATE_CACHE_SECONDS={seconds} with a cache each process keeps for itself ({backend}): gate "
            "answers may lag behind changes made in other processes for that long.", id="assessments.W803",
            hint="Set REDIS_CACHE_URL (or REDIS_URL), or leave WARDEN_GATE_CACHE_SECONDS unset.")]
    return []


def _timeout() -> int:
    return settings.WARDEN_GATE_CACHE_SECONDS or DEFAULT_SECONDS


@functools.lru_cache(maxsize=8)
def _fingerprint(policy: str, base_url: str) -> str:
    return hashlib.sha256(f"{policy}|{base_url}".encode()).hexdigest()[:16]


def entry_key(token_key: str, sha256: str) -> str:
    """The token is hashed, so that the cache never holds a usable credential. The configuration the
    decision follows (approval policy, issuer) is part of the key: entries outlive a restart that changes it."""
    token_digest = hashlib.sha256(token_key.encode()).hexdigest()[:32]
    configuration = _fingerprint(repr(settings.WARDEN_APPROVAL_POLICY or {}), settings.WARDEN_BASE_URL)
    return (f"warden:gate:answer:v{ENTRY_FORMAT}:{token_digest}:{sha256}:{timezone.localdate().isoformat()}:"
            f"{configuration}")


def artifact_generation_key(sha256: str) -> str:
    return f"warden:gate:generation:{sha256}"


def lookup(token_key: str, sha256: str) -> tuple[dict | None, tuple | None]:
    """(the cached entry if still current, the current generations); (None, None) when the cache fails.

    One round trip on a hit. A missing generation (first use, or evicted) starts again from the
    clock in nanoseconds, so it never lands on a number an old entry carries.
    """
    keys = [GENERATION_KEY, artifact_generation_key(sha256)]
    entry_name = entry_key(token_key, sha256)
    try:
        found = cache.get_many([*keys, entry_name])
        missing = [key for key in keys if key not in found]
        if missing:
            for key in missing:
                _start_generation(key)
            found.update(cache.get_many(missing))
    except Exception:  # noqa: BLE001 - the cache is an accelerator, never a dependency
        logger.warning("gate cache unavailable; answering from the database", exc_info=True)
        return None, None
    generations = tuple(found.get(key) for key in keys)
    if None in generations:
        return None, None
    entry = found.get(entry_name)
    if isinstance(entry, dict) and ENTRY_FIELDS <= entry.keys() and tuple(entry["generations"]) == generations:
        return entry, generations
    return None, generations


def remember(token_key: str, sha256: str, *, generations: tuple | None, username: str, claims: bytes,
             summary: str) -> None:
    """Keep a decision (``gate.encode``: its claims unsigned and unstamped, and its log summary) under the
    generations read before it was worked out."""
    if generations is None:
        return
    entry = {"generations": list(generations), "username": username, "claims": claims, "summary": summary}
    try:
        cache.set(entry_key(token_key, sha256), entry, timeout=_timeout())
    except Exception:  # noqa: BLE001
        logger.warning("gate cache unavailable; answer not kept", exc_info=True)


def _start_generation(key: str) -> None:
    cache.add(key, time.time_ns(), timeout=None)


def _bump_key(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # no generation yet: nothing is cached under one either
        _start_generation(key)


def _bump(version_ids=(), model_ids=(), owner_ids=()) -> None:
    from django.db.models import Q

    from governance.models import ModelVersion

    try:
        if not (version_ids or model_ids or owner_ids):
            keys = [GENERATION_KEY]
        else:
            scope = Q(pk__in=version_ids) | Q(model_id__in=model_ids) | Q(model__owner_id__in=owner_ids)
            keys = [artifact_generation_key(sha) for sha in
                    set(ModelVersion.objects.filter(scope).values_list("artifact_sha256", flat=True))]
        for key in keys:
            _bump_key(key)
    except Exception:  # noqa: BLE001 - entries then expire on their own
        logger.warning("gate cache: could not bump a generation", exc_info=True)


def invalidate(using: str = DEFAULT_DB_ALIAS, *, version_ids=(), model_ids=(), owner_ids=()) -> None:
    """Make the cached decisions about these versions, these models' versions and the versions of
    the models these people own stale once the current transaction commits (at once outside one).
    Named nothing: every cached decision.

    A transaction that saves many watched rows bumps once per row: an INCR each, cheaper than
    keeping track, and nothing cached survives any of them.
    """
    if enabled():
        transaction.on_commit(functools.partial(_bump, tuple(version_ids), tuple(model_ids), tuple(owner_ids)),
                              using=using)


# --- what the gate reads ------------------------------------------------------------------------------------------

# Saves that touch only these fields change nothing the gate reads (progress bars, sign-in times).
IGNORED_FIELDS = {
    "assessments.EvaluationRun": {"progress", "progress_message", "lease_expires_at"},
    "auth.User": {"last_login"},
}


def watched_models() -> list:
    """Every model whose rows the gate's decision or its authentication depends on."""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    names = [
        "governance.MLModel", "governance.ModelVersion", "governance.BusinessUnit", "governance.RoleGrant",
        "governance.MLModelUserObjectPermission", "assessments.EvaluationRun", "assessments.Assessment",
        "assessments.Risk", "assessments.SignOff", "assessments.LifecycleEvent", "training.Assignment",
        "training.Module", "authtoken.Token",
    ]
    return [apps.get_model(name) for name in names] + [get_user_model()]


SKIP = object()

# The decisions a change can affect, by the model changed (see the module's docstring); others: all of them.
SCOPES = {
    "assessments.EvaluationRun": lambda run: {"version_ids": [run.model_version_id]} if run.model_version_id else SKIP,
    "assessments.SignOff": lambda sign_off: {"version_ids": [sign_off.model_version_id]},
    "assessments.LifecycleEvent": lambda event: {"version_ids": [event.model_version_id]},
    # A risk's or an assessment's model is chosen when it is created and never changes.
    "assessments.Assessment": lambda assessment: {"model_ids": [assessment.model_id]} if assessment.model_id else SKIP,
    "assessments.Risk": lambda risk: {"model_ids": [risk.model_id]} if risk.model_id else SKIP,
    "governance.MLModel": lambda model: {"model_ids": [model.pk]},
    "training.Assignment": lambda assignment: {"owner_ids": [assignment.user_id]},
}


def _on_change(sender, instance=None, update_fields=None, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    label = sender._meta.label
    ignored = IGNORED_FIELDS.get(label)
    if update_fields and ignored and set(update_fields) <= ignored:
        return
    scope = SCOPES[label](instance) if label in SCOPES else {}
    if scope is not SKIP:
        invalidate(using, **scope)


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    for model in watched_models():
        post_save.connect(_on_change, sender=model, dispatch_uid=f"gate-cache-save-{model._meta.label}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"gate-cache-delete-{model._meta.label}")
