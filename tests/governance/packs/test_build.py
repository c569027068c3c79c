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

