"""Building a pack end to end: content, PDF/A-3b, manifest, signature; the CLI commands."""

from __future__ import annotations

import hashlib

import pytest

from governance.models import PackScopeKind, PackStatus
from governance.packs.scope import PackScope
from governance.packs.verify import verify_pack
from tests.governance.packs.helpers import build, read

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_model_pack_is_built_signed_and_verifies(pack_model, auditor):
    pack = build(auditor, PackScope(kind=PackScopeKind.MODEL, model=pack_model))
    assert pack.status == PackStatus.SUCCEEDED, pack.error
    data = read(pack)
    assert hashlib.sha256(data).hexdigest() == pack.sha256
    assert pack.page_count and pack.page_count > 5
    result = verify_pack(data)
    assert result.ok, result.problems
    assert result.signer_fingerprint == pack.signer_fingerprint
    manifest = result.manifest
    assert manifest["pack_id"] == str(pack.pack_id)
    assert manifest["scope"]["key"] == f"model:{pack_model.pk}"
    assert manifest["previous_pack_sha256"] is None
    titles = {item["title"] for item in manifest["items"]}
    assert titles == {"Encryption policy for Credit scorer", "Review of Credit scorer"}
    attached = {check.name for check in result.files}
    assert {"listings/risks.csv", "listings/evidence.csv", "listings/audit.csv"} <= attached
    assert any(name.startswith("evidence/") for name in attached)
    for item in manifest["items"]:
        assert item["attachment"] and item["sha256"] and item["requirements"]



def test_a_pack_whose_worker_died_is_taken_over_once_its_lease_runs_out(pack_model, auditor):
    import datetime as dt

    from django.test import TestCase
    from django.utils import timezone

    from governance.models import EvidencePack
    from governance.packs.services import pack_claim, pack_recover_stale, pack_request
    from tests.governance.packs.helpers import period

    start, end = period()
    pack = pack_request(actor=auditor, scope=PackScope(kind=PackScopeKind.MODEL, model=pack_model),
                        period_start=start, period_end=end, dispatch=False)
    assert pack_claim(pack.pk)  # a worker took it ...
    assert pack_claim(pack.pk) is None  # ... and holds it while its lease runs
    assert pack_recover_stale() == []
    EvidencePack.objects.filter(pk=pack.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert pack_recover_stale() == [pack.pk]  # ... then died: the sweep sends it again
    pack.refresh_from_db()
    assert pack.status == PackStatus.SUCCEEDED and pack.attempts == 2


def test_a_pack_interrupted_three_times_fails_with_a_reason(pack_model, auditor):
    import datetime as dt

    from django.utils import timezone

    from governance.models import EvidencePack
    from governance.packs.services import pack_build, pack_request
    from tests.governance.packs.helpers import period

    start, end = period()
    pack = pack_request(actor=auditor, scope=PackScope(kind=PackScopeKind.MODEL, model=pack_model),
                        period_start=start, period_end=end, dispatch=False)
    EvidencePack.objects.filter(pk=pack.pk).update(status=PackStatus.RUNNING, attempts=3,
                                                   lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert pack_build(pack_pk=pack.pk) is None
    pack.refresh_from_db()
    assert pack.status == PackStatus.FAILED and "interrupted 3 times" in pack.error


def test_asking_twice_while_building_returns_the_same_pack_and_is_audited(pack_model, auditor):
    from governance.models import AuditEntry
    from governance.models.audit import AuditAction
    from governance.packs.services import pack_request
    from tests.governance.packs.helpers import period

    start, end = period()
    scope = PackScope(kind=PackScopeKind.MODEL, model=pack_model)
    first = pack_request(actor=auditor, scope=scope, period_start=start, period_end=end, dispatch=False)
    second = pack_request(actor=auditor, scope=scope, period_start=start, period_end=end, dispatch=False)
    assert first.pk == second.pk
    entry = AuditEntry.objects.get(action=AuditAction.CREATE, object_type="governance.EvidencePack")
    assert entry.actor == auditor and entry.changes["scope"] == f"model:{pack_model.pk}"
