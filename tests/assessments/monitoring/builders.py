"""Builders for monitoring tests: a deployed version whose evaluation data has a scanned profile, and reports."""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.utils import timezone

from assessments.approvals import services
from assessments.evaluations.dataset_scan import drift
from assessments.models import EvaluationRun, RunKind, RunStatus
from tests.factories import DatasetVersionFactory

RNG = np.random.default_rng(7)
INCOME = RNG.normal(50_000, 12_000, 5_000)
REGIONS = {"north": 3000, "south": 1500, "east": 500}


def income_quantiles(shift: float = 0.0, count: int = 101) -> list[float]:
    return [float(q) for q in np.quantile(INCOME + shift, np.linspace(0, 1, count))]


def deployed_version(version, ml_lead, risk_manager, dpo):
    evaluation = DatasetVersionFactory(dataset__business_unit=version.model.business_unit, dataset__owner=ml_lead)
    profile = {"income": drift.numeric_profile(INCOME, len(INCOME)),
               "region": drift.categorical_profile(REGIONS, sum(REGIONS.values()), complete=True)}
    now = timezone.now()
    EvaluationRun.objects.create(kind=RunKind.DATASET_SCAN, dataset_version=evaluation, status=RunStatus.SUCCEEDED,
                                 report={"profile": profile}, finished_at=now, started_at=now, progress=100)
    version.evaluation_datasets.add(evaluation)
    version.metrics = {"accuracy": 0.9}
    version.save(update_fields=["metrics"])
    services.version_submit(actor=ml_lead, version=version)
    services.version_sign_off(actor=risk_manager, version=version)
    services.version_sign_off(actor=dpo, version=version)
    services.version_deploy(actor=ml_lead, version=version)
    version.refresh_from_db()
    return version


def report(hour: int, *, key: str | None = None, shift: float = 0.0, regions=None, labels=None, requests=1000,
           errors=2, start=None) -> dict:
    base = start or (timezone.now() - dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    begin = base + dt.timedelta(hours=hour)
    body = {
        "idempotency_key": key or f"svc/{begin.isoformat()}",
        "window_start": begin.isoformat(), "window_end": (begin + dt.timedelta(hours=1)).isoformat(),
        "request_count": requests, "error_count": errors,
        "predictions": {"counts": {"approve": 600, "refuse": 400}},
        "features": {"income": {"quantiles": income_quantiles(shift, 11)},
                     "region": {"counts": regions or {"north": 600, "south": 300, "east": 100}}},
    }
    if labels is not None:
        body["labels"] = labels
    return body


def fair_labels(accuracy: float = 0.91, female: int = 180, male: int = 200) -> dict:
    return {"labelled_count": 800, "accuracy": accuracy,
            "groups": {"sex": {"female": {"count": 400, "selected": female}, "male": {"count": 400, "selected": male}}}}
