"""The deployment gate: may the artifact with this SHA-256 be deployed?

Allowed only when a version with exactly that SHA-256 is approved or deployed, every sign-off its
tier requires was given in its review, and every precondition still holds *now* (a risk opened or a
scan that turned red after the approval closes the gate again). Anything else is denied with the
reasons; an artifact Warden has never seen (or one the asking account may not see) is denied without
saying whether it exists.

The answer is signed as a JWS with the organisation's key (``signing``); the JSON answer carries the
same claims beside the token so a pipeline can read it and keep the token as proof.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid

from django.conf import settings
from django.utils import timezone

from assessments.approvals import facts, signing
from assessments.approvals.checks import version_checks
from assessments.approvals.policy import required_roles
from assessments.approvals.services import ROLE_LABELS
from assessments.models import LifecycleAction, SignOffDecision
from governance.access import Capability, access_profile, visible_models
from governance.models import ModelVersion
from governance.models.inventory import VersionStatus

logger = logging.getLogger("assessments.gate")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
ALLOW, DENY = "allow", "deny"
# A file uploaded again as another version is a twin; a handful at most in practice.
MAX_TWINS = 50
UNKNOWN = "Warden has no record of an artifact with this SHA-256 (or you may not see it)."


def normalise_sha256(value: str | None) -> str:
    """The lower-case hex digest, or ValueError with a readable reason."""
    text = (value or "").strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:"):]
    if not SHA256_PATTERN.match(text):
        raise ValueError("sha256 must be the 64 hexadecimal digits of the artifact's SHA-256.")
    return text


def _candidate(sha256: str, user) -> ModelVersion | None:
    """The version the question is about: deployed before approved before anything else, newest first.

    The versions with this hash are few (usually one), so they are read in one plain query and the
    visibility rule is applied to them here (a unit the user's roles cover, or a single grant, read
    only when needed): cheaper per request than joining the visibility subqueries in SQL.
    """
    versions = facts.versions_with_sha256(sha256, limit=MAX_TWINS)
    if user is not None and versions:
        profile = access_profile(user)
        units = profile.unit_ids(Capability.VIEW_INVENTORY) | profile.unit_ids(Capability.CHANGE_INVENTORY)
        outside = {v.model_id for v in versions if v.model.business_unit_id not in units}
        granted = set(visible_models(user).filter(pk__in=outside).values_list("pk", flat=True)) if outside else set()
        versions = [v for v in versions if v.model.business_unit_id in units or v.model_id in granted]
    if not versions:
        return None
    preference = {VersionStatus.DEPLOYED: 0, VersionStatus.APPROVED: 1}
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return min(versions, key=lambda v: (preference.get(v.status, 2), -(v.status_changed_at or epoch).timestamp(),
                                        -v.created_at.timestamp(), -v.pk))


def _approval_record(version: ModelVersion, sign_offs: list[facts.SignOffRow]) -> dict:
    times = facts.event_times(version.pk, version.review_cycle,
                              [LifecycleAction.APPROVE, LifecycleAction.DEPLOY, LifecycleAction.RESTORE])
    approved = times.get(LifecycleAction.APPROVE)
    deployed = times.get(LifecycleAction.RESTORE) or times.get(LifecycleAction.DEPLOY)
    return {
        "review_cycle": version.review_cycle,
        "approved_at": approved.isoformat() if approved else None,
        "deployed_at": deployed.isoformat() if deployed and version.status == VersionStatus.DEPLOYED else None,
        "registered_by": version.created_by.get_username(),
        "sign_offs": [
            {"role": s.role, "role_label": ROLE_LABELS.get(s.role, s.role), "decision": s.decision,
             "by": s.username, "name": s.name, "at": s.signed_at.isoformat()}
            for s in sign_offs
        ],
    }


def gate_decision(*, sha256: str, user=None) -> dict:
    """The decision as a dict, unsigned and without ``iat``/``jti`` (``encode`` and ``issue`` add them).

    ``user`` None means the whole inventory (the command).
    """
    answer: dict = {
        "iss": settings.WARDEN_BASE_URL, "sha256": sha256, "decision": DENY, "reasons": [], "version": None,
        "checks": [], "approval": None,
    }
    version = _candidate(sha256, user)
    if version is None:
        answer["reasons"] = [UNKNOWN]
        return answer
    model = version.model
    answer["version"] = {
        "id": version.pk, "version": version.version, "status": version.status, "model_id": model.pk,
        "model": model.name, "risk_tier": model.risk_tier,
    }
    reasons = []
    if version.status not in (VersionStatus.APPROVED, VersionStatus.DEPLOYED):
        reasons.append(f"Version {version.version} of {model.name} is {version.get_status_display().lower()}: only "
                       "approved or deployed versions may be deployed.")
    checks = version_checks(version)
    answer["checks"] = [check.as_dict() for check in checks]
    reasons += [f"{check.title}: {check.detail}" for check in checks if not check.ok]
    sign_offs = facts.sign_offs(version.pk, version.review_cycle) if version.review_cycle else []
    approved_roles = {s.role for s in sign_offs
                      if s.decision == SignOffDecision.APPROVE and s.signed_by_id != version.created_by_id}
    missing = [role for role in required_roles(model) if role not in approved_roles]
    if missing:
        reasons.append("Sign-off missing: " + ", ".join(ROLE_LABELS.get(role, role) for role in missing) + ".")
    if version.status in (VersionStatus.APPROVED, VersionStatus.DEPLOYED):
        answer["approval"] = _approval_record(version, sign_offs)
    if not reasons:
        answer["decision"] = ALLOW
        signers = ", ".join(f"{ROLE_LABELS.get(s.role, s.role)} {s.name}" for s in sign_offs
                            if s.decision == SignOffDecision.APPROVE)
        reasons.append(f"Version {version.version} of {model.name} is {version.get_status_display().lower()}, "
                       f"signed off by {signers}, and every precondition holds.")
    answer["reasons"] = reasons
    return answer


def encode(decision: dict) -> tuple[bytes, str]:
    """(the decision's claims as canonical JSON, its summary for the log): worked out once per decision,
    kept as is by ``gate_cache``, and stamped and signed for every request it answers (``issue``)."""
    summary = f"{decision['decision']} sha256={decision['sha256']} version={(decision['version'] or {}).get('id')}"
    return signing.canonical_json(decision), summary


def issue(claims: bytes, *, summary: str, asked_by: str) -> bytes:
    """The answer to one request, as the JSON document served: the claims stamped with the time (``iat``)
    and a unique id (``jti``), plus ``jws``, a JWS whose payload is exactly those stamped claims.

    The stamp goes in front of the claims already encoded, so a cached decision is never encoded again.
    Each answer is logged with its ``jti`` (not written to the hash-chained audit trail: pipelines ask
    often, and every append there is serialised), so a kept answer can be matched to the request.
    """
    jti = uuid.uuid4().hex
    payload = b'{"iat":%d,"jti":"%s",' % (int(timezone.now().timestamp()), jti.encode()) + claims[1:]
    logger.info("gate %s asked_by=%s jti=%s", summary, asked_by, jti)
    return payload[:-1] + b',"jws":"' + signing.sign_bytes(payload).encode("ascii") + b'"}'


def signed_gate_answer(*, sha256: str, user=None) -> dict:
    claims, summary = encode(gate_decision(sha256=sha256, user=user))
    return json.loads(issue(claims, summary=summary, asked_by=user.get_username() if user is not None else "command"))
