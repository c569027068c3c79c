"""Data-protection officers and a dataset version full of personal data (with a marker to grep for)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from governance.models import DatasetVersion
from governance.services import inventory
from tests.people import _person

MARKER_EMAIL = "zebulon.quartermaine@example.org"
MARKER_NAME = "Zebulon Quartermaine"
FIRST = ["Alice", "Omar", "Priya", "Lars", "Maria", "Kenji", "Grace"]
LAST = ["Smith", "Okafor", "Novak", "Fischer", "Garcia", "Tanaka", "Brown", "Dubois", "Kowalski"]


def pii_csv(rows: int = 60, *, marker: bool = True) -> bytes:
    lines = ["full_name,email,ssn,age,postcode,date_of_birth,income"]
    for index in range(rows):
        name = MARKER_NAME if marker and index == 0 else f"{FIRST[index % 7]} {LAST[index // 7 % 9]}"
        email = MARKER_EMAIL if marker and index == 0 else f"alice.{index}@example.com"
        ssn = f"{100 + index:03d}-{10 + index % 80:02d}-{1000 + index:04d}"
        age = 20 + (index * 7) % 50
        postcode = ["SW1A 1AA", "EC1A 1BB", "94107", "10115"][index % 4]
        lines.append(f"{name},{email},{ssn},{age},{postcode},19{50 + index % 40}-0{1 + index % 9}-1{index % 10},"
                     f"{30000 + index * 10}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def dpo(retail):
    return _person("dpo", "dpo", retail)


@pytest.fixture
def research_dpo(research):
    return _person("research-dpo", "dpo", research)


def upload_version(*, actor, dataset, version: str = "2024.1", content: bytes | None = None,
                   name: str = "people.csv", capture=None) -> DatasetVersion:
    """Upload through the inventory service (so the dataset scan runs, eagerly, on commit)."""
    upload = SimpleUploadedFile(name, content if content is not None else pii_csv(), content_type="text/csv")
    if capture is None:
        return inventory.dataset_version_create(actor=actor, dataset=dataset, version=version, file=upload)
    with capture(execute=True):
        return inventory.dataset_version_create(actor=actor, dataset=dataset, version=version, file=upload)


def age(version: DatasetVersion, days: int) -> DatasetVersion:
    """Pretend the version was uploaded ``days`` ago."""
    DatasetVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(days=days))
    version.refresh_from_db()
    return version


@pytest.fixture
def people_version(ml_lead, retail_dataset, django_capture_on_commit_callbacks):
    retail_dataset.retention_days = 365
    retail_dataset.save(update_fields=["retention_days"])
    return upload_version(actor=ml_lead, dataset=retail_dataset, capture=django_capture_on_commit_callbacks)
