"""A short-lived cache of gate decisions, so that pipelines asking again and again get an answer fast.

Admission controllers and deploy jobs ask about the same few artifacts many times a minute; working
the decision out again costs about ten queries each time. The *unsigned* decision is cached per
(API token, SHA-256, day); every answer still gets a fresh ``iat``, ``jti`` and signature.

Correctness rests on one counter, the gate *generation*, kept in the shared cache (Redis in
production): a cached decision is used only while the generation it was worked out under is still
current, and any change to what the gate reads (versions, runs, assessments, risks, sign-offs,
lifecycle events, training, grants, tokens, users: see ``watched_models``) bumps it once its
transaction commits. The generation is read *before* the database: a decision worked out while a
change commits is stored under the old generation, which the bump then makes unusable. The entry's
expiry (``WARDEN_GATE_CACHE_SECONDS``) only bounds the damage of a change made behind Django's back
(raw SQL, a lost bump while Redis was down); the day in the key covers training that falls due at
midnight.

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
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

logger = logging.getLogger("assessments.gate")

GENERATION_KEY = "warden:gate:generation"
SHARED_BACKENDS = ("django.core.cache.backends.redis.RedisCache",)


def enabled() -> bool:
    seconds = settings.WARDEN_GATE_CACHE_SECONDS
    if seconds is None:  # not set: on where the cache is shared between processes
        return settings.CACHES["default"]["BACKEND"] in SHARED_BACKENDS
    return seconds > 0


def _timeout() -> int:
    return settings.WARDEN_GATE_CACHE_SECONDS or 30


@functools.lru_cache(maxsize=8)
def _fingerprint(policy: str, base_url: str) -> str:
    return hashlib.sha256(f"{policy}|{base_url}".encode()).hexdigest()[:16]


def entry_key(token_key: str, sha256: str) -> str:
    """The token is hashed, so that the cache never holds a usable credential. The configuration the
    decision follows (approval policy, issuer) is part of the key: entries outlive a restart that changes it."""
    token_digest = hashlib.sha256(token_key.encode()).hexdigest()[:32]
    configuration = _fingerprint(repr(settings.WARDEN_APPROVAL_POLICY or {}), settings.WARDEN_BASE_URL)
    return f"warden:gate:answer:{token_digest}:{sha256}:{timezone.localdate().isoformat()}:{configuration}"


def lookup(token_key: str, sha256: str) -> tuple[dict | None, int | None]:
    """(the cached entry if still current, the current generation); (None, None) when the cache fails.

    One round trip on a hit. A missing generation (first use, or evicted) starts again from the
    clock in nanoseconds, so it never lands on a number an old entry carries.
    """
    key = entry_key(token_key, sha256)
    try:
        found = cache.get_many([GENERATION_KEY, key])
        generation = found.get(GENERATION_KEY)
        if generation is None:
            cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
            return None, cache.get(GENERATION_KEY)
    except Exception:  # noqa: BLE001 - the cache is an accelerator, never a dependency
        logger.warning("gate cache unavailable; answering from the database", exc_info=True)
        return None, None
    entry = found.get(key)
    if entry is not None and entry.get("generation") == generation:
        return entry, generation
    return None, generation


def remember(token_key: str, sha256: str, *, generation: int | None, username: str, decision: dict) -> None:
    """Keep ``decision`` (without ``iat``/``jti``) under the generation read before it was worked out."""
    if generation is None:
        return
    entry = {"generation": generation, "username": username,
             "decision": {k: v for k, v in decision.items() if k not in ("iat", "jti")}}
    try:
        cache.set(entry_key(token_key, sha256), entry, timeout=_timeout())
    except Exception:  # noqa: BLE001
        logger.warning("gate cache unavailable; answer not kept", exc_info=True)


def _bump() -> None:
    try:
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:  # no generation yet: nothing cached under one either
            cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
    except Exception:  # noqa: BLE001 - entries then expire on their own
        logger.warning("gate cache: could not bump the generation", exc_info=True)


def invalidate(using: str = DEFAULT_DB_ALIAS) -> None:
    """Make every cached decision stale once the current transaction commits (at once outside one).

    A transaction that saves many watched rows bumps once per row: an INCR each, cheaper than
    keeping track, and nothing cached survives any of them.
    """
    if enabled():
        transaction.on_commit(_bump, using=using)


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


def _on_change(sender, instance=None, update_fields=None, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    ignored = IGNORED_FIELDS.get(sender._meta.label)
    if update_fields and ignored and set(update_fields) <= ignored:
        return
    invalidate(using)


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    for model in watched_models():
        post_save.connect(_on_change, sender=model, dispatch_uid=f"gate-cache-save-{model._meta.label}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"gate-cache-delete-{model._meta.label}")
