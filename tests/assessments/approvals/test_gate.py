"""The deployment gate: every precondition alone flips the answer; the signed answer verifies and
fails when altered; the API's permission ladder; the command's exit status."""

import base64
import io
import json
import os

import pytest
from django.core.management import call_command
from django.test import override_settings

from assessments.approvals import gate, services, signing
from assessments.models import AssessmentKind, AssessmentStatus, RunKind
from tests.assessments.approvals.builders import (
    assessment,
    clean_scan,
    evaluation,
    make_ready,
    new_version,
    overdue_training,
    risk,
    run,
)
from tests.factories import MLModelFactory

pytestmark = pytest.mark.django_db
GATE = "/api/gate/"


def approve(version, *signers):
    services.version_submit(actor=version.created_by, version=version)
    for signer in signers:
        services.version_sign_off(actor=signer, version=version)
    version.refresh_from_db()
    return version


@pytest.fixture
def approved(ready_version, risk_manager, dpo):
    return approve(ready_version, risk_manager, dpo)


def ask(version):
    return gate.gate_decision(sha256=version.artifact_sha256)


def test_an_approved_version_with_everything_met_is_allowed(approved):
    answer = ask(approved)
    assert answer["decision"] == "allow", answer["reasons"]
    assert answer["version"]["id"] == approved.pk
    roles = [(s["role"], s["by"]) for s in answer["approval"]["sign_offs"]]
    assert roles == [("risk_manager", "risk"), ("dpo", "dpo")]
    assert answer["approval"]["approved_at"] and answer["approval"]["registered_by"] == "mllead"
    assert "signed off by Risk manager" in answer["reasons"][0]


def test_a_deployed_version_is_allowed(approved, ml_lead):
    services.version_deploy(actor=ml_lead, version=approved)
    answer = ask(approved)
    assert answer["decision"] == "allow" and answer["approval"]["deployed_at"]


def test_an_unknown_artifact_is_denied():
    answer = gate.gate_decision(sha256="0" * 64)
    assert answer["decision"] == "deny" and answer["reasons"] == [gate.UNKNOWN] and answer["version"] is None


# Each of these alone turns an allowed answer into a denial (and names the reason).
def _newer_scan_of_another_file(v):
    run(v, RunKind.ARTIFACT_SCAN, {"verdict": "clean", "blocking": False, "sha256": "f" * 64, "integrity_ok": True})


def _malicious_scan(v):
    clean_scan(v, verdict="malicious", blocking=True)


def _tampered_file(v):
    clean_scan(v, integrity_ok=False)


def _retire(v):
    services.version_retire(actor=v.created_by, version=v, reason="Old")


# Saved row by row, as the app does, so that the gate cache sees the change too (test_gate_cache.py).
def _unsigned_threat_model(v):
    from assessments.models import Assessment

    for threat_model in Assessment.objects.filter(model=v.model, kind=AssessmentKind.THREAT_MODEL):
        threat_model.status = AssessmentStatus.COMPLETED
        threat_model.save()


def _no_dpia(v):
    from assessments.models import Assessment

    Assessment.objects.filter(model=v.model, kind=AssessmentKind.DPIA).delete()


def _no_scan(v):
    from assessments.models import EvaluationRun

    EvaluationRun.objects.filter(model_version=v, kind=RunKind.ARTIFACT_SCAN).delete()


def _no_fairness(v):
    from assessments.models import EvaluationRun

    EvaluationRun.objects.filter(model_version=v, kind=RunKind.FAIRNESS).delete()


def _prohibited(v):
    v.model.risk_tier = "prohibited"
    v.model.save()


BREAKERS = {
    "no artifact scan": (_no_scan, "Clean artifact scan"),
    "malicious artifact": (_malicious_scan, "Clean artifact scan"),
    "scan of another file": (_newer_scan_of_another_file, "SHA-256 differs"),
    "stored file tampered": (_tampered_file, "SHA-256 differs"),
    "fairness failed": (lambda v: evaluation(v, RunKind.FAIRNESS, "fail"), "Fairness evaluation"),
    "fairness only warns (high tier)": (lambda v: evaluation(v, RunKind.FAIRNESS, "warn"), "Fairness evaluation"),
    "no fairness run": (_no_fairness, "Fairness evaluation"),
    "robustness failed": (lambda v: evaluation(v, RunKind.ROBUSTNESS, "fail"), "Robustness evaluation"),
    "threat model not signed off": (_unsigned_threat_model, "Signed-off threat model"),
    "no DPIA for personal data": (_no_dpia, "Signed-off DPIA"),
    "open high risk": (lambda v: risk(v.model, level="high"), "No open critical or high risk"),
    "open critical risk being mitigated": (
        lambda v: risk(v.model, level="critical", treatment="mitigate", treatment_status="in_progress"),
        "No open critical or high risk"),
    "owner's training overdue": (lambda v: overdue_training(v.model.owner), "training is up to date"),
    "version retired": (_retire, "only approved or deployed"),
    "prohibited tier": (_prohibited, "Risk tier allows deployment"),
}


@pytest.mark.parametrize("name", BREAKERS)
def test_each_precondition_alone_flips_the_answer(approved, name):
    assert ask(approved)["decision"] == "allow"
    breaker, reason = BREAKERS[name]
    breaker(approved)
    approved.refresh_from_db()
    answer = ask(approved)
    assert answer["decision"] == "deny"
    assert any(reason in text for text in answer["reasons"]), answer["reasons"]


@pytest.mark.parametrize("treatment, status", [("accept", "open"), ("mitigate", "done")])
def test_a_risk_with_an_accepted_or_finished_treatment_does_not_block(approved, treatment, status):
    risk(approved.model, level="critical", treatment=treatment, treatment_status=status)
    risk(approved.model, level="low")
    assert ask(approved)["decision"] == "allow"


def test_a_sign_off_the_policy_now_requires_closes_the_gate(approved):
    with override_settings(WARDEN_APPROVAL_POLICY={"high": {"sign_offs": ["risk_manager", "dpo", "admin"]}}):
        answer = ask(approved)
    assert answer["decision"] == "deny" and "Sign-off missing: Admin." in answer["reasons"]


def test_in_review_is_denied_with_the_missing_sign_offs(ready_version, risk_manager):
    services.version_submit(actor=ready_version.created_by, version=ready_version)
    services.version_sign_off(actor=risk_manager, version=ready_version)
    answer = ask(ready_version)
    assert answer["decision"] == "deny"
    assert "Sign-off missing: Data-protection officer." in answer["reasons"]


def test_a_deployed_twin_wins_over_a_draft_with_the_same_hash(approved, ml_lead):
    services.version_deploy(actor=ml_lead, version=approved)
    new_version(approved.model, artifact_sha256=approved.artifact_sha256)  # re-uploaded as a draft
    assert gate.gate_decision(sha256=approved.artifact_sha256)["version"]["id"] == approved.pk


def test_a_lower_tier_needs_only_what_it_asks_for(retail, ml_lead, risk_manager):
    model = MLModelFactory(business_unit=retail, owner=ml_lead, risk_tier="minimal")
    version = new_version(model)
    clean_scan(version)
    assessment(model, AssessmentKind.THREAT_MODEL)
    approve(version, risk_manager)
    assert ask(version)["decision"] == "allow"


# --- the signature ----------------------------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_signed_answer_verifies_with_the_published_key_and_fails_when_altered(approved, api_for, client, ml_lead):
    answer = api_for(ml_lead).get(GATE, {"sha256": approved.artifact_sha256}).json()
    keys = client.get("/api/gate/jwks/", HTTP_AUTHORIZATION="").json()
    claims = signing.verify(answer["jws"], keys)
    assert claims == {key: value for key, value in answer.items() if key != "jws"}
    assert claims["decision"] == "allow"

    header, payload, signature = answer["jws"].split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["sha256"] = "0" * 64
    with pytest.raises(ValueError, match="does not verify"):
        signing.verify(f"{header}.{_b64(signing.canonical_json(forged))}.{signature}", keys)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(ValueError):
        signing.verify(f"{header}.{payload}.{flipped}", keys)
    other = signing._from_pem(_ed25519_pem(), source="test")
    with pytest.raises(ValueError):
        signing.verify(answer["jws"], signing.jwks(other))


def test_a_deny_is_signed_too(api_for, ml_lead):
    answer = api_for(ml_lead).get(GATE, {"sha256": "a" * 64}).json()
    assert answer["decision"] == "deny"
    assert signing.verify(answer["jws"], signing.jwks())["decision"] == "deny"


def _ed25519_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_a_configured_es256_key_signs(tmp_path, approved):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "gate.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    with override_settings(WARDEN_GATE_KEY_FILE=str(path)):
        key = signing.current_signing_key()
        assert key.alg == "ES256"
        answer = gate.signed_gate_answer(sha256=approved.artifact_sha256)
        assert signing.verify(answer["jws"], signing.jwks())["decision"] == "allow"


@pytest.mark.parametrize("content, mode, message", [
    (b"not a key", 0o600, "not an unencrypted PEM"),
    (None, 0o644, "readable by group or others"),
])
def test_a_bad_key_file_refuses_in_production(tmp_path, content, mode, message):
    from django.core.exceptions import ImproperlyConfigured

    path = tmp_path / "gate.pem"
    path.write_bytes(content or _ed25519_pem())
    path.chmod(mode)
    with pytest.raises(ImproperlyConfigured, match=message):
        signing.load_signing_key(key_file=str(path), production=True, data_dir=tmp_path)


def test_production_refuses_without_a_key_and_development_generates_one(tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="WARDEN_GATE_KEY_FILE"):
        signing.load_signing_key(key_file="", production=True, data_dir=tmp_path)
    key = signing.load_signing_key(key_file="", production=False, data_dir=tmp_path)
    generated = tmp_path / signing.DEV_SIGNING_KEY_NAME
    assert key.alg == "Ed25519" and oct(generated.stat().st_mode & 0o777) == "0o600"
    assert signing.load_signing_key(key_file="", production=False, data_dir=tmp_path).kid == key.kid


# --- the API's permission ladder and bad input --------------------------------------------------------------------

def test_anonymous_gets_401(client, approved):
    response = client.get(GATE, {"sha256": approved.artifact_sha256})
    assert response.status_code == 401 and "error" in response.json()


def test_an_outsider_is_denied_as_if_the_artifact_were_unknown(api_for, outsider, approved):
    answer = api_for(outsider).get(GATE, {"sha256": approved.artifact_sha256}).json()
    assert answer["decision"] == "deny" and answer["reasons"] == [gate.UNKNOWN] and answer["version"] is None


@pytest.mark.parametrize("who", ["auditor", "ml_lead", "risk_manager"])
def test_anyone_who_sees_the_model_gets_the_answer(request, api_for, approved, who):
    response = api_for(request.getfixturevalue(who)).get(GATE, {"sha256": approved.artifact_sha256.upper()})
    assert response.status_code == 200 and response.json()["decision"] == "allow"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("value", ["", "abc", "g" * 64, "0" * 63, "0" * 65, "../../etc/passwd"])
def test_a_malformed_hash_is_a_400(api_for, ml_lead, value):
    response = api_for(ml_lead).get(GATE, {"sha256": value})
    assert response.status_code == 400 and response.json()["fields"]["sha256"]


def test_the_jwks_is_public_and_holds_no_private_part(client):
    document = client.get("/api/gate/jwks/").json()
    (key,) = document["keys"]
    assert key["kty"] == "OKP" and key["alg"] == "Ed25519" and "d" not in key


def test_the_gate_reads_a_fixed_number_of_queries(api_for, approved, ml_lead, django_assert_num_queries):
    client = api_for(ml_lead)
    client.get(GATE, {"sha256": approved.artifact_sha256})
    # Token, access profile (grants, unit tree), the version, runs, assessments, risks, training, sign-offs, events:
    # no field of the version, its model or the people read in ``facts`` is fetched on its own.
    with django_assert_num_queries(10):
        client.get(GATE, {"sha256": approved.artifact_sha256})


# --- the command ----------------------------------------------------------------------------------------------------

def _command(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("gate", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_the_command_exits_0_on_allow_and_1_on_deny(approved):
    code, out, _ = _command("--sha256", approved.artifact_sha256)
    assert code == 0 and out.startswith("allow")
    risk(approved.model, level="critical")
    code, out, _ = _command("--sha256", approved.artifact_sha256)
    assert code == 1 and out.startswith("deny") and "No open critical or high risk" in out
    assert _command("--sha256", "1" * 64)[0] == 1
    code, _, err = _command("--sha256", "nope")
    assert code == 1 and "64 hexadecimal digits" in err


def test_the_command_prints_a_verifiable_answer(approved):
    code, out, _ = _command("--sha256", approved.artifact_sha256, "--json")
    answer = json.loads(out)
    assert code == 0 and signing.verify(answer["jws"], signing.jwks())["sha256"] == approved.artifact_sha256
    code, out, _ = _command("--sha256", approved.artifact_sha256, "--jws")
    assert out.strip().count(".") == 2


def test_nothing_unverified_ever_allows(ready_version):
    # Every precondition met but never reviewed: still a draft, so denied.
    make_ready(ready_version)
    answer = ask(ready_version)
    assert answer["decision"] == "deny" and answer["approval"] is None


def test_after_a_rotation_answers_signed_with_the_old_key_still_verify(tmp_path, approved):
    old_path, new_path, bundle = tmp_path / "old.pem", tmp_path / "new.pem", tmp_path / "retired.pem"
    for path in (old_path, new_path):
        path.write_bytes(_ed25519_pem())
        path.chmod(0o600)
    with override_settings(WARDEN_GATE_KEY_FILE=str(old_path)):
        kept = gate.signed_gate_answer(sha256=approved.artifact_sha256)["jws"]
    bundle.write_bytes(old_path.read_bytes())
    with override_settings(WARDEN_GATE_KEY_FILE=str(new_path)):
        assert signing.verify(gate.signed_gate_answer(sha256=approved.artifact_sha256)["jws"], signing.jwks())
        with pytest.raises(ValueError):
            signing.verify(kept, signing.jwks())
        with override_settings(WARDEN_GATE_RETIRED_KEYS_FILE=str(bundle)):
            published = signing.jwks()
            assert len(published["keys"]) == 2 and all("d" not in key for key in published["keys"])
            assert signing.verify(kept, published)["decision"] == "allow"


def test_a_bad_retired_keys_file_is_named(tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    bad = tmp_path / "retired.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with override_settings(WARDEN_GATE_RETIRED_KEYS_FILE=str(bad)), pytest.raises(ImproperlyConfigured,
                                                                                   match="RETIRED_KEYS"):
        signing.jwks()


def test_every_answer_is_logged_with_its_id(approved, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="assessments.gate"):
        answer = gate.signed_gate_answer(sha256=approved.artifact_sha256)
    assert f"gate allow sha256={approved.artifact_sha256}" in caplog.text and answer["jti"] in caplog.text


def test_a_replaced_key_file_signs_within_a_second(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    def write_key() -> None:
        path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        path.chmod(0o600)

    path = tmp_path / "gate.pem"
    write_key()
    clock = [1000.0]
    monkeypatch.setattr(signing.time, "monotonic", lambda: clock[0])
    with override_settings(WARDEN_GATE_KEY_FILE=str(path)):
        first = signing.current_signing_key()
        write_key()
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        clock[0] += 0.5
        assert signing.current_signing_key() is first  # the file is looked at once a second at most
        clock[0] += 0.6
        replaced = signing.current_signing_key()
    assert replaced.kid != first.kid
