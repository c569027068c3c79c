"""Verification in three places (the command, the library behind the page, poppler's pdfsig), and what
makes each of them fail: one flipped byte, bytes appended after signing, an untrusted signer, a
forged manifest, something that is not a PDF."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import PackScopeKind, PackStatus
from governance.packs.scope import PackScope
from governance.packs.signing import make_demo_authority, sign_pdf
from governance.packs.verify import NotAPack, verify_pack
from tests.governance.packs.helpers import build, nss_db_trusting, pdfsig, read

pytestmark = pytest.mark.django_db


@pytest.fixture
def pack_file(pack_model, auditor, tmp_path):
    pack = build(auditor, PackScope(kind=PackScopeKind.MODEL, model=pack_model))
    assert pack.status == PackStatus.SUCCEEDED, pack.error
    path = tmp_path / "pack.pdf"
    path.write_bytes(read(pack))
    return path


def run_verify(path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_pack", str(path), stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_verify_pack_command_accepts_an_untouched_pack(pack_file):
    code, out, _ = run_verify(pack_file)
    assert code == 0
    assert "VERIFIED" in out and "Warden demo organisation evidence packs" in out
    assert "Whole file:     yes" in out and "Trusted:        yes" in out


def test_pdfsig_reports_the_signature_valid_and_trusted_with_the_demo_ca(pack_file, demo_authority, tmp_path):
    report = pdfsig(pack_file)
    assert "Signature is Valid" in report, report
    assert "Total document signed" in report
    nssdir = nss_db_trusting(demo_authority["ca"], tmp_path / "nss")
    if nssdir is None:
        from tests.conftest import services_required

        if services_required():
            pytest.fail("certutil (libnss3-tools) is missing: make system-deps installs it")
        pytest.skip("certutil (libnss3-tools) is not installed: trust cannot be checked with pdfsig")
    report = pdfsig(pack_file, nssdir)
    assert "Signature is Valid" in report and "Certificate is Trusted" in report, report


@pytest.mark.parametrize("where", [0.1, 0.33, 0.5, 0.75])
def test_one_flipped_byte_fails_every_verifier(pack_file, demo_authority, tmp_path, where):
    data = bytearray(pack_file.read_bytes())
    signed_end = data.rindex(b"/Contents <")  # stay in the first signed range, before the signature itself
    position = int(signed_end * where)
    data[position] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))

    code, _, err = run_verify(tampered)
    assert code != 0, err
    try:
        assert not verify_pack(bytes(data)).ok
    except NotAPack:
        pass  # unreadable after the flip: also a failure to verify
    nssdir = nss_db_trusting(demo_authority["ca"], tmp_path / "nss")
    assert "Signature is Valid" not in pdfsig(tampered, nssdir)


def test_bytes_appended_after_signing_are_noticed(pack_file):
    data = pack_file.read_bytes()
    result = verify_pack(data + b"\n% an appended comment\n")
    assert not result.ok
    assert not result.whole_file


def test_a_pack_signed_by_another_ca_is_not_trusted(pack_file, tmp_path, settings):
    stranger = make_demo_authority(tmp_path / "stranger")
    settings.WARDEN_SIGNING_TRUST = str(stranger["ca"])
    result = verify_pack(pack_file.read_bytes())
    assert result.intact and result.valid and not result.trusted and not result.ok
    code, _, err = run_verify(pack_file)
    assert code == 1 and "not issued by a certificate authority this installation trusts" in err


def test_a_validly_signed_pdf_whose_manifest_lies_fails_the_manifest_check(pack_file, tmp_path):
    """Re-signing a document with forged attachments needs the key: with it, the manifest check still
    catches attachments that do not match their listed hashes."""
    from weasyprint import HTML, Attachment

    manifest = {"format": "warden-evidence-pack/1", "pack_id": "forged", "items": [],
                "attachments": [{"name": "listings/risks.csv", "sha256": "0" * 64}]}
    pdf = HTML(string="<p>forged</p>").write_pdf(attachments=[
        Attachment(file_obj=io.BytesIO(json.dumps(manifest).encode()), name="manifest.json"),
        Attachment(file_obj=io.BytesIO(b"id,title\n1,nothing to see\n"), name="listings/risks.csv"),
        Attachment(file_obj=io.BytesIO(b"extra"), name="listings/unlisted.csv"),
    ])
    result = verify_pack(sign_pdf(pdf, reason="test"))
    assert result.signature_ok
    assert not result.manifest_ok and not result.ok
    problems = " ".join(result.problems)
    assert "risks.csv: its SHA-256 does not match the manifest" in problems
    assert "unlisted.csv: attached but not listed in the manifest" in problems


def test_not_a_pdf_and_an_unsigned_pdf(tmp_path):
    with pytest.raises(NotAPack):
        verify_pack(b"MZ\x90\x00 this is an executable, not a PDF")
    with pytest.raises(NotAPack):
        verify_pack(b"%PDF-1.7\n garbage that is no PDF structure at all")
    from weasyprint import HTML

    result = verify_pack(HTML(string="<p>unsigned</p>").write_pdf())
    assert not result.ok and "The PDF carries no signature." in result.problems
    path = tmp_path / "junk.pdf"
    path.write_bytes(b"not a pdf")
    assert run_verify(path)[0] == 2


def test_build_pack_command_writes_a_verifiable_pack(pack_model, tmp_path):
    out = tmp_path / "scheduled.pdf"
    stdout = io.StringIO()
    call_command("build_pack", "--scope", f"model:{pack_model.pk}", "--from", "2020-01-01", "--out", str(out),
                 stdout=stdout)
    assert "Evidence pack" in stdout.getvalue()
    result = verify_pack(out.read_bytes())
    assert result.ok, result.problems
    assert result.manifest["generated_by"] == ""
    assert result.manifest["period"]["start"] == "2020-01-01"


def test_build_pack_names_the_previous_pack_of_the_same_scope(pack_model, tmp_path):
    first, second = tmp_path / "1.pdf", tmp_path / "2.pdf"
    call_command("build_pack", "--scope", f"model:{pack_model.pk}", "--out", str(first), stdout=io.StringIO())
    call_command("build_pack", "--scope", f"model:{pack_model.pk}", "--out", str(second), stdout=io.StringIO())
    import hashlib

    manifest = verify_pack(second.read_bytes()).manifest
    assert manifest["previous_pack_sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()


@pytest.mark.parametrize("arguments, message", [
    (["--scope", "model:999999"], "no model with id"),
    (["--scope", "framework:NOPE"], "no framework"),
    (["--scope", "everything"], "the scope must be"),
    (["--scope", "org", "--from", "2026-02-01", "--to", "2026-01-01"], "must end on or after"),
    (["--scope", "org", "--from", "yesterday"], "YYYY-MM-DD"),
])
def test_build_pack_command_refuses_bad_arguments(catalog, tmp_path, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("build_pack", *arguments, "--out", str(tmp_path / "x.pdf"), stdout=io.StringIO())
    assert not (tmp_path / "x.pdf").exists()


def test_framework_and_org_scopes_from_the_command_line(pack_model, tmp_path):
    for scope in ("framework:GDPR", "org", f"framework:GDPR@unit:{pack_model.business_unit_id}"):
        out = tmp_path / "p.pdf"
        call_command("build_pack", "--scope", scope, "--out", str(out), stdout=io.StringIO())
        result = verify_pack(out.read_bytes())
        assert result.ok, (scope, result.problems)
        assert {item["title"] for item in result.manifest["items"]} >= {"Review of Credit scorer"}


def test_a_decompression_bomb_attached_to_a_signed_pdf_is_refused_without_inflating_it(settings):
    """A small upload whose attachment inflates far beyond any pack: refused, with a sentence."""
    from weasyprint import HTML, Attachment

    from governance.packs import verify

    settings_budget = verify.MAX_ATTACHMENT_BYTES
    verify.MAX_ATTACHMENT_BYTES = 1024 * 1024
    try:
        bomb = b"\0" * (8 * 1024 * 1024)  # deflates to a few kilobytes
        pdf = HTML(string="<p>bomb</p>").write_pdf(attachments=[
            Attachment(file_obj=io.BytesIO(b"{}"), name="manifest.json"),
            Attachment(file_obj=io.BytesIO(bomb), name="listings/bomb.csv"),
        ])
        assert len(pdf) < 200_000
        result = verify_pack(sign_pdf(pdf, reason="test"))
    finally:
        verify.MAX_ATTACHMENT_BYTES = settings_budget
    assert not result.ok
    assert "far larger than any evidence pack holds" in " ".join(result.problems)
