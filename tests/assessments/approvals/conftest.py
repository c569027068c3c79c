import pytest

from tests.assessments.approvals.builders import dpo_person, make_ready, new_version
from tests.factories import MLModelFactory


@pytest.fixture
def dpo(retail):
    return dpo_person(retail)


@pytest.fixture
def high_model(retail, ml_lead):
    return MLModelFactory(name="Credit scorer", business_unit=retail, owner=ml_lead, risk_tier="high",
                          processes_personal_data=True)


@pytest.fixture
def version(high_model, ml_lead):
    return new_version(high_model, created_by=ml_lead, version="2.0")


@pytest.fixture
def ready_version(version):
    make_ready(version)
    return version
