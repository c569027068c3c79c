"""Fixtures for the evidence-pack tests: a demo CA and signing certificate made once per session,
a catalogue, and a model with something in every section of a pack."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from governance.models import EvidenceSource
from governance.packs.signing import make_demo_authority
from tests.factories import DatasetFactory, DatasetVersionFactory, MLModelFactory, ModelVersionFactory


@pytest.fixture(scope="session")
def demo_authority(tmp_path_factory):
    return make_demo_authority(tmp_path_factory.mktemp("signing"))


@pytest.fixture(autouse=True)
def _signing_settings(settings, demo_authority):
    settings.WARDEN_SIGNING_P12 = str(demo_authority["p12"])
    settings.WARDEN_SIGNING_PASSPHRASE_FILE = str(demo_authority["passphrase"])
    settings.WARDEN_SIGNING_PASSPHRASE = ""
    settings.WARDEN_SIGNING_TRUST = str(demo_authority["ca"])
    settings.WARDEN_TSA_URL = ""


@pytest.fixture
def catalog(db):
    from assessments.models import RiskMatrix

    call_command("load_catalog", verbosity=0, stdout=io.StringIO())
    return RiskMatrix.objects.get(is_default=True)


def add_model_with_evidence(*, unit, owner, name, matrix=None, with_file=True):
    """A model with a version trained on a dataset version, evidence (a file and a generated result)
    linked to GDPR requirements, a requirement result and a risk."""
    from assessments.models import Requirement, RequirementResult, ResultStatus, Risk
    from governance.services.evidence import evidence_record

    model = MLModelFactory(name=name, business_unit=unit, owner=owner, risk_tier="high",
                           purpose=f"Purpose of {name}.")
    dataset = DatasetFactory(name=f"{name} data", business_unit=unit, owner=owner, processes_personal_data=True)
    dataset_version = DatasetVersionFactory(dataset=dataset, version="2024.1")
    version = ModelVersionFactory(model=model, version="1.0")
    version.training_datasets.add(dataset_version)
    urns = list(Requirement.objects.filter(urn__startswith="urn:warden:gdpr", assessable=True)
                .order_by("order").values_list("urn", flat=True)[:2])
    if with_file:
        evidence_record(actor=owner, title=f"Encryption policy for {name}", source=EvidenceSource.UPLOAD,
                        business_unit=unit, model=model, requirement_urns=urns[:1],
                        file=ContentFile(b"policy text " + name.encode(), name="policy.txt"), media_type="text/plain",
                        expires_at=timezone.localdate() + dt.timedelta(days=10))
    evidence_record(actor=owner, title=f"Review of {name}", source=EvidenceSource.API, business_unit=unit,
                    model=model, requirement_urns=urns, content={"reviewed": True, "model": name})
    for urn in urns:
        RequirementResult.objects.create(model=model, requirement=Requirement.objects.get(urn=urn),
                                         status=ResultStatus.MET)
    if matrix is not None:
        likelihood = matrix.likelihood_levels[-1]["id"]
        impact = matrix.impact_levels[-1]["id"]
        Risk.objects.create(model=model, title=f"Model inversion on {name}", matrix=matrix,
                            inherent_likelihood=likelihood, inherent_impact=impact,
                            inherent_level=matrix.grid[-1][-1], inherent_rank=len(matrix.risk_levels) - 1,
                            created_by=owner)
    return model


@pytest.fixture
def pack_model(catalog, retail, ml_lead):
    return add_model_with_evidence(unit=retail, owner=ml_lead, name="Credit scorer", matrix=catalog)
