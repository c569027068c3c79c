"""What each risk tier requires before a version may be approved, and when production alerts fire.

The defaults below are the organisation's policy unless ``settings.WARDEN_APPROVAL_POLICY`` (JSON in the
environment variable of the same name) overrides them: a dict keyed by risk tier whose values replace the
named keys of that tier's defaults, e.g. ``{"limited": {"robustness": "pass"}}``. The merged policy is
validated (``approval_policy()`` raises ImproperlyConfigured naming the tier and key), and a system check
reports a bad override at start-up.

Per tier:

``deployable``       False for tiers that may never reach production (EU AI Act prohibited practices).
``sign_offs``        roles that must each approve, by different people, none of them the registrant.
``sign_offs_when_personal_data``  further roles when the model processes personal or health data.
``fairness`` / ``robustness``  the weakest run verdict accepted ("pass", or "warn" to accept warnings);
                     None when the tier does not require that evaluation.
``threat_model``     a signed-off threat model is required.
``dpia_when_personal_data``  a signed-off DPIA is required when the model processes personal data.
``blocking_risk_levels``  risk-matrix level ids that block approval until their treatment is accepted.
``owner_training``   the model owner's assigned training must not be overdue.
``monitoring``       thresholds for production windows: ``psi`` (drift per feature), ``accuracy_drop``
                     (below the accuracy recorded for the version), ``accuracy_min``,
                     ``selection_ratio_min`` (lowest / highest group selection rate, the four-fifths rule),
                     ``min_group_count`` (smaller groups are not compared), ``error_rate_max``.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from governance.models import Role
from governance.models.inventory import RiskTier

VERDICTS = ("pass", "warn")

_MONITORING = {"psi": 0.25, "accuracy_drop": 0.05, "accuracy_min": 0.0, "selection_ratio_min": 0.8,
               "min_group_count": 30, "error_rate_max": 0.05}

DEFAULT_POLICY: dict[str, dict[str, Any]] = {
    RiskTier.PROHIBITED: {
        "deployable": False, "sign_offs": [Role.RISK_MANAGER, Role.DATA_PROTECTION_OFFICER],
        "sign_offs_when_personal_data": [], "fairness": "pass", "robustness": "pass", "threat_model": True,
        "dpia_when_personal_data": True, "blocking_risk_levels": ["high", "critical"], "owner_training": True,
        "monitoring": {**_MONITORING, "psi": 0.1, "accuracy_drop": 0.02},
    },
    RiskTier.HIGH: {
        "deployable": True, "sign_offs": [Role.RISK_MANAGER, Role.DATA_PROTECTION_OFFICER],
        "sign_offs_when_personal_data": [], "fairness": "pass", "robustness": "pass", "threat_model": True,
        "dpia_when_personal_data": True, "blocking_risk_levels": ["high", "critical"], "owner_training": True,
        "monitoring": {**_MONITORING, "psi": 0.2, "accuracy_drop": 0.03, "error_rate_max": 0.02},
    },
    RiskTier.LIMITED: {
        "deployable": True, "sign_offs": [Role.RISK_MANAGER],
        "sign_offs_when_personal_data": [Role.DATA_PROTECTION_OFFICER], "fairness": "warn", "robustness": None,
        "threat_model": True, "dpia_when_personal_data": True, "blocking_risk_levels": ["high", "critical"],
        "owner_training": True, "monitoring": dict(_MONITORING),
    },
    RiskTier.MINIMAL: {
        "deployable": True, "sign_offs": [Role.RISK_MANAGER],
        "sign_offs_when_personal_data": [Role.DATA_PROTECTION_OFFICER], "fairness": None, "robustness": None,
        "threat_model": True, "dpia_when_personal_data": True, "blocking_risk_levels": ["critical"],
        "owner_training": True, "monitoring": {**_MONITORING, "psi": 0.3, "accuracy_drop": 0.1},
    },
}


def _validate(tier: str, rules: dict[str, Any]) -> None:
    def bad(key: str, why: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"WARDEN_APPROVAL_POLICY[{tier!r}][{key!r}] {why}")

    unknown = set(rules) - set(DEFAULT_POLICY[RiskTier.HIGH])
    if unknown:
        raise bad(sorted(unknown)[0], "is not a policy key")
    roles = set(Role.values)
    for key in ("sign_offs", "sign_offs_when_personal_data"):
        value = rules[key]
        if not isinstance(value, list | tuple) or any(role not in roles for role in value):
            raise bad(key, f"must be a list of roles ({', '.join(Role.values)})")
        if len(set(value)) != len(value):
            raise bad(key, "names a role twice")
    if not rules["sign_offs"] and rules["deployable"]:
        raise bad("sign_offs", "must name at least one role (the registrant may never approve alone)")
    for key in ("fairness", "robustness"):
        if rules[key] is not None and rules[key] not in VERDICTS:
            raise bad(key, 'must be "pass", "warn" or None')
    for key in ("deployable", "threat_model", "dpia_when_personal_data", "owner_training"):
        if not isinstance(rules[key], bool):
            raise bad(key, "must be true or false")
    if not isinstance(rules["blocking_risk_levels"], list | tuple):
        raise bad("blocking_risk_levels", "must be a list of risk level ids")
    monitoring = rules["monitoring"]
    if not isinstance(monitoring, dict) or set(monitoring) != set(_MONITORING):
        raise bad("monitoring", f"must set exactly {', '.join(sorted(_MONITORING))}")
    for key, value in monitoring.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise bad("monitoring", f"{key} must be a number at least 0")


_merged: dict[str, dict[str, dict[str, Any]]] = {}


def approval_policy() -> dict[str, dict[str, Any]]:
    """The merged, validated policy for every tier; computed once per distinct override (the gate asks
    several times per request). Callers must not change what it returns."""
    overrides = getattr(settings, "WARDEN_APPROVAL_POLICY", None) or {}
    key = repr(overrides)
    if key not in _merged:
        merged = _merge(overrides)
        _merged.clear()
        _merged[key] = merged
    return _merged[key]


def _merge(overrides) -> dict[str, dict[str, Any]]:
    if not isinstance(overrides, dict) or set(overrides) - set(RiskTier.values):
        raise ImproperlyConfigured(f"WARDEN_APPROVAL_POLICY must be keyed by risk tier ({', '.join(RiskTier.values)})")
    merged = {}
    for tier, defaults in DEFAULT_POLICY.items():
        rules = copy.deepcopy(defaults)
        override = overrides.get(tier, {})
        if not isinstance(override, dict):
            raise ImproperlyConfigured(f"WARDEN_APPROVAL_POLICY[{tier!r}] must be a dict")
        if "monitoring" in override and isinstance(override["monitoring"], dict):
            override = {**override, "monitoring": {**rules["monitoring"], **override["monitoring"]}}
        rules.update(override)
        _validate(str(tier), rules)
        merged[str(tier)] = rules
    return merged


def tier_policy(tier: str) -> dict[str, Any]:
    return approval_policy()[tier]


def processes_personal_data(model) -> bool:
    return bool(model.processes_personal_data or model.processes_health_data)


def required_roles(model) -> list[str]:
    """The roles that must approve a version of ``model``, in the order the page lists them."""
    rules = tier_policy(model.risk_tier)
    roles = [str(role) for role in rules["sign_offs"]]
    if processes_personal_data(model):
        roles += [str(role) for role in rules["sign_offs_when_personal_data"] if role not in roles]
    return roles


@checks.register(checks.Tags.security)
def approval_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``manage.py check`` (and every start) reports a bad approval policy or an unusable gate signing key."""
    from assessments.approvals.signing import current_signing_key

    errors = []
    try:
        approval_policy()
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(str(exc), id="assessments.E801",
                                   hint="See assessments/approvals/policy.py for the keys of each risk tier."))
    try:
        from assessments.approvals.signing import jwks

        current_signing_key()
        jwks()  # also reads the retired keys, if any
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(f"The deployment gate cannot sign its answers: {exc}", id="assessments.E802",
                                   hint="Set WARDEN_GATE_KEY_FILE to an Ed25519 or EC P-256 PEM key (mode 600)."))
    return errors
