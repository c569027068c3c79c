"""An evidence pack built by a separate Celery worker process from the pdf queue, with its progress
visible in the database meanwhile, then verified here."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from governance.models import PackScopeKind, PackStatus
from governance.packs.scope import PackScope
from governance.packs.services import pack_request
from governance.packs.signing import ensure_demo_authority
from governance.packs.verify import verify_pack
from tests.factories import BusinessUnitFactory, MLModelFactory, RoleGrantFactory, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
WAIT_SECONDS = 120


def test_a_pack_is_built_by_the_worker_on_the_pdf_queue(celery_worker_process, settings):
    from governance.celery import app

    assert app.conf.task_always_eager is False
    # The worker runs the development profile with its own data directory: its demo certificate goes
    # there, and this process trusts the same CA.
    paths, _ = ensure_demo_authority(Path(celery_worker_process.env["WARDEN_DATA_DIR"]) / "signing")
    settings.WARDEN_SIGNING_TRUST = str(paths["ca"])
    call_command("load_catalog", verbosity=0, stdout=io.StringIO())
    unit = BusinessUnitFactory(name="Worker unit", parent=None)
    auditor = UserFactory(username="worker-auditor")
    RoleGrantFactory(user=auditor, role="auditor", business_unit=unit)
    model = MLModelFactory(name="Worker model", business_unit=unit, owner=auditor)

    today = timezone.localdate()
    pack = pack_request(actor=auditor, scope=PackScope(kind=PackScopeKind.MODEL, model=model),
                        period_start=today.replace(day=1), period_end=today)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        pack.refresh_from_db()
        if pack.status in (PackStatus.SUCCEEDED, PackStatus.FAILED):
            break
        celery_worker_process.assert_alive()
        time.sleep(0.3)
    assert pack.status == PackStatus.SUCCEEDED, f"{pack.status} {pack.error}\n{celery_worker_process.log()[-3000:]}"
    assert "render_evidence_pack" in celery_worker_process.log()
    with pack.file.open("rb") as handle:
        result = verify_pack(handle.read())
    assert result.ok, result.problems
    assert pack.attempts == 1 and pack.progress == 100
