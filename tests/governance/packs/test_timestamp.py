"""With WARDEN_TSA_URL set, the pack's signature carries an RFC 3161 timestamp, and the verifier uses
the timestamp's time and checks the timestamp authority is trusted. The timestamp server here is a
local HTTP server answering with pyHanko's test time-stamper under a CA made for the test."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import warnings

import pytest
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from governance.packs.signing import sign_pdf
from governance.packs.verify import verify_pack

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

FIXED = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _tsa(tmp_path):
    now = dt.datetime.now(dt.UTC)
    # pyHanko's test time-stamper signs with RSA only.
    ca_key, tsa_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA root")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")]))
            .issuer_name(ca_name).public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(ca_key, hashes.SHA256()))
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=keys.PrivateKeyInfo.load(tsa_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        fixed_dt=FIXED)
    ca_pem = tmp_path / "tsa-ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return stamper, ca_pem


@pytest.fixture
def tsa_server(tmp_path):
    stamper, ca_pem = _tsa(tmp_path)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the standard library's name
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            body = stamper.request_tsa_response(request).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", ca_pem
    server.shutdown()


def _pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string="<p>timestamped</p>").write_pdf()


def test_a_configured_timestamp_server_stamps_the_signature(settings, tsa_server, demo_authority, tmp_path):
    url, tsa_ca = tsa_server
    settings.WARDEN_TSA_URL = url
    signed = sign_pdf(_pdf(), reason="test")
    trust = tmp_path / "trust.pem"
    trust.write_bytes(demo_authority["ca"].read_bytes() + tsa_ca.read_bytes())
    settings.WARDEN_SIGNING_TRUST = str(trust)
    result = verify_pack(signed)
    assert result.signature_ok and result.timestamped
    assert result.signed_at == FIXED


def test_a_timestamp_from_an_untrusted_authority_is_reported(settings, tsa_server):
    url, _ = tsa_server
    settings.WARDEN_TSA_URL = url
    result = verify_pack(sign_pdf(_pdf(), reason="test"))
    assert result.timestamped
    assert not result.signature_ok
    assert any("timestamp" in problem for problem in result.problems)
