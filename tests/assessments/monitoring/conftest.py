import pytest

from tests.assessments.approvals.conftest import dpo, high_model, ready_version, version  # noqa: F401
from tests.assessments.monitoring.builders import deployed_version


@pytest.fixture
def deployed(ready_version, ml_lead, risk_manager, dpo):  # noqa: F811
    return deployed_version(ready_version, ml_lead, risk_manager, dpo)
