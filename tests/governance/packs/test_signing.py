"""The demo certificate authority made on first start, and signing without a usable certificate."""

from __future__ import annotations

import io
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import PackScopeKind, PackStatus
from governance.packs.scope import PackScope
from governance.packs.signing import SigningUnavailable, load_signer
from tests.governance.packs.helpers import build


def test_ensure_signing_cert_creates_once_with_private_modes(settings, tmp_path):
    settings.WARDEN_SIGNING_P12 = str(tmp_path / "signing" / "signer.p12")
    out = io.StringIO()
    call_command("ensure_signing_cert", stdout=out)
    assert "created" in out.getvalue()
    for name in ("ca.pem", "signer.p12", "passphrase"):
        mode = stat.S_IMODE((tmp_path / "signing" / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    before = (tmp_path / "signing" / "signer.p12").read_bytes()
    out = io.StringIO()
    call_command("ensure_signing_cert", stdout=out)
    assert "already present" in out.getvalue()
    assert (tmp_path / "signing" / "signer.p12").read_bytes() == before
    settings.WARDEN_SIGNING_PASSPHRASE_FILE = str(tmp_path / "signing" / "passphrase")
    assert "Warden demo organisation" in load_signer().signing_cert.subject.human_friendly


def test_ensure_signing_cert_refuses_in_production(settings, tmp_path):
    settings.PRODUCTION = True
    settings.WARDEN_SIGNING_P12 = str(tmp_path / "signer.p12")
    with pytest.raises(CommandError, match="development only"):
        call_command("ensure_signing_cert", stdout=io.StringIO())
    assert not (tmp_path / "signer.p12").exists()


@pytest.mark.django_db
def test_a_pack_fails_with_a_clear_reason_without_a_signing_certificate(pack_model, auditor, settings, tmp_path):
    settings.WARDEN_SIGNING_P12 = str(tmp_path / "missing.p12")
    pack = build(auditor, PackScope(kind=PackScopeKind.MODEL, model=pack_model))
    assert pack.status == PackStatus.FAILED
    assert "signing certificate file is missing" in pack.error
    assert not pack.file


@pytest.mark.django_db
def test_a_wrong_passphrase_is_a_clear_failure(settings, tmp_path):
    settings.WARDEN_SIGNING_PASSPHRASE_FILE = ""
    settings.WARDEN_SIGNING_PASSPHRASE = "not the passphrase"
    with pytest.raises(SigningUnavailable, match="check the passphrase"):
        load_signer()
