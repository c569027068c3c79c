"""Demo content for `make run`: an organisation, one person per role, models, datasets, lineage.

Everything is generated here (no downloads) and the function is idempotent: running it again
finds what exists and creates only what is missing.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
from datetime import timedelta

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from governance.models import BusinessUnit, Dataset, DatasetVersion, MLModel, Role, RoleGrant
from governance.services import inventory

User = get_user_model()

# Demo accounts only: `seed_demo` refuses to run in production.
DEMO_USERS = [
    ("admin", "Ada", "Admin", Role.ADMIN, "Acme", "demo-admin-pass-2026"),
    ("risk", "Rita", "Risk", Role.RISK_MANAGER, "Acme", "demo-risk-pass-2026"),
    ("mllead", "Max", "Lead", Role.ML_LEAD, "Retail Banking", "demo-mllead-pass-2026"),
    ("staff", "Sam", "Staff", Role.STAFF, "Retail Banking", "demo-staff-pass-2026"),
    ("auditor", "Aude", "Auditor", Role.AUDITOR, "Acme", "demo-auditor-pass-2026"),
    ("dpo", "Dana", "Protection", Role.DATA_PROTECTION_OFFICER, "Acme", "demo-dpo-pass-2026"),
]
UNITS = [("Acme", None), ("Retail Banking", "Acme"), ("Health Analytics", "Acme"), ("Payments", "Acme")]


def _unit(name: str, parent_name: str | None) -> BusinessUnit:
    parent = BusinessUnit.objects.get(name=parent_name, parent__isnull=True) if parent_name else None
    unit, _ = BusinessUnit.objects.get_or_create(name=name, parent=parent)
    return unit


def _loan_applications(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "applicant_id": np.arange(1, rows + 1),
        "email": [f"applicant{i}@example.com" for i in range(1, rows + 1)],
        "age": rng.integers(18, 80, rows),
        "sex": rng.choice(["female", "male"], rows),
        "income": rng.normal(42_000, 12_000, rows).round(0),
        "loan_amount": rng.integers(1_000, 40_000, rows),
        "approved": rng.integers(0, 2, rows),
    })
    return frame.to_csv(index=False).encode()


def _marketing_leads(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    first = rng.choice(["Alice", "Omar", "Priya", "Lars", "Maria", "Kenji", "Grace"], rows)
    last = rng.choice(["Smith", "Okafor", "Novak", "Fischer", "Garcia", "Tanaka", "Brown"], rows)
    frame = pd.DataFrame({
        "full_name": [f"{a} {b}" for a, b in zip(first, last, strict=True)],
        "email": [f"lead{i}@example.net" for i in range(rows)],
        "phone": [f"+44 20 7946 {i:04d}" for i in range(rows)],
        "postcode": rng.choice(["SW1A 1AA", "EC1A 1BB", "M1 1AE", "B33 8TH"], rows),
        "age": rng.integers(18, 80, rows),
        "converted": rng.integers(0, 2, rows),
    })
    return frame.to_csv(index=False).encode()


def _readmissions_parquet(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "patient_ref": [f"P{i:06d}" for i in range(rows)],
        "age_band": rng.choice(["18-39", "40-64", "65+"], rows),
        "diagnosis_code": rng.choice(["E11", "I10", "J45", "N18"], rows),
        "length_of_stay": rng.integers(1, 20, rows),
        "readmitted": rng.integers(0, 2, rows),
    })
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _safetensors(values: list[float]) -> bytes:
    data = struct.pack(f"<{len(values)}f", *values)
    header = json.dumps({"weights": {"dtype": "F32", "shape": [len(values)], "data_offsets": [0, len(data)]}}).encode()
    return struct.pack("<Q", len(header)) + header + data


MODELS = [
    {
        "name": "Credit risk scorer", "unit": "Retail Banking", "owner": "mllead",
        "purpose": "Ranks consumer loan applications by default risk for manual underwriting review.",
        "limitations": "Not validated for business loans or applicants under 21.", "risk_tier": "high",
        "lifecycle_stage": "production", "task_type": "classification", "framework": "scikit-learn",
        "deployment_context": "Batch scoring each night; scores shown to underwriters.",
        "processes_personal_data": True,
    },
    {
        "name": "Readmission predictor", "unit": "Health Analytics", "owner": "admin",
        "purpose": "Flags inpatients at high risk of readmission within 30 days for follow-up calls.",
        "limitations": "Trained on one hospital group; recalibrate before use elsewhere.", "risk_tier": "high",
        "lifecycle_stage": "validation", "task_type": "classification", "framework": "PyTorch",
        "deployment_context": "Clinician dashboard, advisory only.", "processes_personal_data": True,
        "processes_health_data": True,
    },
    {
        "name": "Card fraud detector", "unit": "Payments", "owner": "admin",
        "purpose": "Scores card transactions in real time and holds suspicious ones for review.",
        "risk_tier": "limited", "lifecycle_stage": "development", "task_type": "detection", "framework": "ONNX",
        "deployment_context": "Online API behind the payments gateway.", "processes_cardholder_data": True,
    },
]


@transaction.atomic
def seed_demo() -> list[tuple[str, str, str]]:
    """Create the demo organisation. Returns (username, role, password) for each demo user."""
    units = {name: _unit(name, parent) for name, parent in UNITS}
    users = {}
    for username, first, last, role, unit_name, password in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@acme.example"}
        )
        if created:
            user.set_password(password)
            user.save()
        RoleGrant.objects.get_or_create(user=user, role=role, business_unit=units[unit_name])
        users[username] = user

    admin = users["admin"]
    if not Dataset.objects.filter(name="Loan applications").exists():
        loans = inventory.dataset_register(
            actor=admin, business_unit=units["Retail Banking"], owner=users["mllead"], name="Loan applications",
            description="Consumer loan applications with outcomes.", source="Core banking system export",
            provenance="Nightly export, signed by the data platform team.", licence="Internal",
            retention_days=2555, legal_basis="contract", processes_personal_data=True,
        )
        inventory.dataset_version_create(
            actor=admin, dataset=loans, version="2024-q4",
            file=SimpleUploadedFile("loan_applications_2024q4.csv", _loan_applications(500, 1)),
            sensitive_columns=["email", "age", "sex"],
        )
        inventory.dataset_version_create(
            actor=admin, dataset=loans, version="2025-q1",
            file=SimpleUploadedFile("loan_applications_2025q1.csv", _loan_applications(300, 2)),
            sensitive_columns=["email", "age", "sex"],
        )
    if not Dataset.objects.filter(name="Inpatient episodes").exists():
        episodes = inventory.dataset_register(
            actor=admin, business_unit=units["Health Analytics"], name="Inpatient episodes",
            description="De-identified inpatient episodes.", source="Hospital data warehouse",
            licence="Data sharing agreement DSA-17", retention_days=3650, legal_basis="public_task",
            processes_personal_data=True, processes_health_data=True,
        )
        inventory.dataset_version_create(
            actor=admin, dataset=episodes, version="2025-01",
            file=SimpleUploadedFile("episodes.parquet", _readmissions_parquet(400, 3)),
            sensitive_columns=["age_band", "diagnosis_code"],
        )

    if not Dataset.objects.filter(name="Marketing leads").exists():
        # Kept for one year and uploaded two years ago: the data-protection officer's page lists it.
        leads = inventory.dataset_register(
            actor=admin, business_unit=units["Retail Banking"], owner=users["mllead"], name="Marketing leads",
            description="Web sign-ups for the 2024 savings campaign.", source="Campaign landing page",
            retention_days=365, legal_basis="consent", processes_personal_data=True,
        )
        old_leads = inventory.dataset_version_create(
            actor=admin, dataset=leads, version="2024-campaign",
            file=SimpleUploadedFile("marketing_leads_2024.csv", _marketing_leads(200, 4)),
            sensitive_columns=["full_name", "email", "phone"],
        )
        DatasetVersion.objects.filter(pk=old_leads.pk).update(created_at=timezone.now() - timedelta(days=730))

    for spec in MODELS:
        if MLModel.objects.filter(name=spec["name"]).exists():
            continue
        spec = dict(spec)
        unit, owner = units[spec.pop("unit")], users[spec.pop("owner")]
        model = inventory.model_register(actor=admin, business_unit=unit, owner=owner, **spec)
        if model.name == "Credit risk scorer":
            loans = Dataset.objects.get(name="Loan applications")
            train, evaluation = loans.versions.get(version="2024-q4"), loans.versions.get(version="2025-q1")
            inventory.model_version_create(
                actor=admin, model=model, version="1.0.0",
                artifact=SimpleUploadedFile("credit_scorer.pkl", pickle.dumps({"coef": [0.4, -1.2, 0.03]}, protocol=4)),
                training_datasets=[train], evaluation_datasets=[evaluation], metrics={"auc": 0.81, "accuracy": 0.77},
            )
            inventory.model_version_create(
                actor=admin, model=model, version="1.1.0",
                artifact=SimpleUploadedFile("credit_scorer.safetensors", _safetensors([0.41, -1.18, 0.031])),
                training_datasets=[train, evaluation], metrics={"auc": 0.83, "accuracy": 0.78},
            )
        elif model.name == "Readmission predictor":
            episodes = Dataset.objects.get(name="Inpatient episodes").versions.get(version="2025-01")
            inventory.model_version_create(
                actor=admin, model=model, version="0.3.0",
                artifact=SimpleUploadedFile("readmission.safetensors", _safetensors([0.1] * 16)),
                training_datasets=[episodes], metrics={"auc": 0.74},
            )
    return [(username, role.label, password) for username, _, _, role, _, password in DEMO_USERS]
