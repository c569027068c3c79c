"""The model page links to the evidence packs of that model for those who may build packs."""

import pytest

from governance.services import inventory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("who", "shown"), [("auditor", True), ("risk_manager", True), ("admin_user", True),
                                            ("ml_lead", False)])
def test_evidence_pack_link(request, client_for, ml_lead, retail, who, shown):
    model = inventory.model_register(actor=ml_lead, business_unit=retail, name="Churn", purpose="Predicts churn.")
    page = client_for(request.getfixturevalue(who)).get(f"/models/{model.pk}/").content.decode()
    assert (f'href="/packs/?model={model.pk}"' in page) is shown
