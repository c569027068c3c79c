"""The organisation's own pass / warn / fail bounds for fairness and robustness runs.

The defaults per risk tier live beside each evaluation (``fairness/thresholds.py``,
``robustness/thresholds.py``). An organisation overrides any subset in one JSON or YAML file named
by ``WARDEN_EVALUATION_THRESHOLDS_FILE``, kept with the rest of its configuration (reviewed and
versioned like code, not edited in a form)::

    fairness:
      high:
        demographic_parity_difference: {pass: 0.03, warn: 0.06}
    robustness:
      limited:
        noise_accuracy_drop: {pass: 0.03, warn: 0.06}

The file is checked by a system check at start-up (``assessments.E910``), so a typo stops the
deployment instead of quietly applying the defaults; every run records the bounds it applied.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import yaml
from django.conf import settings
from django.core.checks import Error, register

from assessments.evaluations.fairness.thresholds import RISK_TIERS
from assessments.evaluations.fairness.thresholds import resolve_thresholds as resolve_fairness
from assessments.evaluations.model_loading import EvaluationInputError
from assessments.evaluations.robustness.thresholds import resolve_thresholds as resolve_robustness

KINDS = {"fairness": resolve_fairness, "robustness": resolve_robustness}


class ThresholdPolicyError(ValueError):
    pass


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        language = "JSON" if path.endswith(".json") else "YAML"
        raise ThresholdPolicyError(f"{path} is not valid {language}: {exc}") from None
    document = document or {}
    if not isinstance(document, dict) or set(document) - set(KINDS):
        raise ThresholdPolicyError(f"{path} must map 'fairness' and/or 'robustness' to per-tier bounds.")
    for kind, overrides in document.items():
        for tier in RISK_TIERS:  # resolving every tier checks every override once
            try:
                KINDS[kind](tier, overrides, error=EvaluationInputError)
            except EvaluationInputError as exc:
                raise ThresholdPolicyError(f"{path}, {kind}: {exc}") from None
    return document


def organisation_thresholds(kind: str) -> dict | None:
    """The overrides for one kind of evaluation, or None when the organisation uses the defaults."""
    path = getattr(settings, "WARDEN_EVALUATION_THRESHOLDS_FILE", "")
    if not path:
        return None
    return _load(path, Path(path).stat().st_mtime).get(kind)


@register()
def check_threshold_policy(app_configs=None, **kwargs) -> list[Error]:
    path = getattr(settings, "WARDEN_EVALUATION_THRESHOLDS_FILE", "")
    if not path:
        return []
    try:
        _load(path, Path(path).stat().st_mtime)
    except OSError as exc:
        return [Error(f"WARDEN_EVALUATION_THRESHOLDS_FILE cannot be read: {exc.strerror or exc}",
                      id="assessments.E910")]
    except ThresholdPolicyError as exc:
        return [Error(str(exc), id="assessments.E910")]
    return []
