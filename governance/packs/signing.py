"""Signing evidence packs (PAdES, with pyHanko) and the demo certificate authority.

The organisation's signing certificate comes as a PKCS#12 file (``WARDEN_SIGNING_P12``) with its
passphrase (``WARDEN_SIGNING_PASSPHRASE`` or, better, ``WARDEN_SIGNING_PASSPHRASE_FILE``); verifiers
trust the certificate authorities in ``WARDEN_SIGNING_TRUST`` (PEM). With ``WARDEN_TSA_URL`` set,
each signature also carries an RFC 3161 timestamp from that server.

In development ``manage.py ensure_signing_cert`` (run by ``make run``) makes a demo CA and a signing
certificate under ``data/signing/`` the first time. The CA's private key is thrown away once the
signing certificate is issued: nothing else can ever be issued under the demo CA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

with warnings.catch_warnings():
    # pyHanko imports cryptography's DSA module, which warns on import; we never use DSA.
    warnings.simplefilter("ignore")
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps import HTTPTimeStamper

SIGNATURE_FIELD = "WardenSignature"
CA_FILE, P12_FILE, PASSPHRASE_FILE = "ca.pem", "signer.p12", "passphrase"


class SigningUnavailable(Exception):
    """No usable signing certificate: a pack cannot be built. The message says what to configure."""


@dataclass(frozen=True)
class SignerInfo:
    subject: str
    fingerprint: str  # SHA-256 of the certificate (DER), hex


def certificate_fingerprint(certificate_der: bytes) -> str:
    return hashlib.sha256(certificate_der).hexdigest()


def _passphrase() -> bytes | None:
    path = getattr(settings, "WARDEN_SIGNING_PASSPHRASE_FILE", "")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip().encode()
        except OSError as exc:
            raise SigningUnavailable(f"The signing passphrase file cannot be read ({exc.strerror}).") from None
    value = getattr(settings, "WARDEN_SIGNING_PASSPHRASE", "")
    return value.encode() if value else None


def load_signer() -> signers.SimpleSigner:
    path = getattr(settings, "WARDEN_SIGNING_P12", "")
    if not path:
        raise SigningUnavailable("No signing certificate is configured: set WARDEN_SIGNING_P12 and its passphrase.")
    if not Path(path).is_file():
        raise SigningUnavailable(
            "The signing certificate file is missing. In development run `manage.py ensure_signing_cert`; "
            "in production set WARDEN_SIGNING_P12 to the organisation's PKCS#12 file.")
    try:
        signer = signers.SimpleSigner.load_pkcs12(path, passphrase=_passphrase())
    except (ValueError, TypeError, OSError):
        signer = None
    if signer is None:
        raise SigningUnavailable("The signing certificate could not be opened: check the passphrase.")
    return signer


def signer_info(signer: signers.SimpleSigner) -> SignerInfo:
    cert = signer.signing_cert
    return SignerInfo(subject=cert.subject.human_friendly, fingerprint=certificate_fingerprint(cert.dump()))


def sign_pdf(pdf: bytes, *, signer: signers.SimpleSigner | None = None, reason: str, location: str = "") -> bytes:
    """The PDF with a PAdES signature over the whole file appended as an incremental update.

    pyHanko's synchronous API runs its own event loop (asyncio.run): call this from a thread with no
    loop running (a worker, a sync view), not from async code.
    """
    signer = signer or load_signer()
    timestamper = None
    tsa_url = getattr(settings, "WARDEN_TSA_URL", "")
    if tsa_url:
        timestamper = HTTPTimeStamper(tsa_url, timeout=20)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD, reason=reason[:200], location=location[:200] or None,
        subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
        # Certify: the document is final; no later change but further signatures is allowed.
        certify=True, docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    out = io.BytesIO()
    signers.PdfSigner(metadata, signer=signer, timestamper=timestamper).sign_pdf(writer, output=out)
    return out.getvalue()


# --- the demo certificate authority ------------------------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Warden demo"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def make_demo_authority(directory: Path, *, organisation: str = "Warden demo organisation") -> dict[str, Path]:
    """A CA certificate, a signing certificate issued by it (PKCS#12) and a random passphrase, in ``directory``.

    Files are written with mode 600 in a 700 directory. Returns the paths.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca_name = _name("Warden demo evidence CA (development only)")
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    cert = (
        x509.CertificateBuilder().subject_name(_name(f"{organisation} evidence packs"))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    passphrase = secrets.token_urlsafe(24)
    p12 = pkcs12.serialize_key_and_certificates(
        b"warden-signer", key, cert, [ca_cert],
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    paths = {"ca": directory / CA_FILE, "p12": directory / P12_FILE, "passphrase": directory / PASSPHRASE_FILE}
    for path, data in ((paths["ca"], ca_cert.public_bytes(serialization.Encoding.PEM)), (paths["p12"], p12),
                       (paths["passphrase"], passphrase.encode())):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    return paths


def ensure_demo_authority(directory: Path) -> tuple[dict[str, Path], bool]:
    """The demo files in ``directory``, made when missing. Returns (paths, created)."""
    if getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured("The demo signing certificate is for development only; configure "
                                   "WARDEN_SIGNING_P12 with the organisation's certificate in production.")
    paths = {"ca": directory / CA_FILE, "p12": directory / P12_FILE, "passphrase": directory / PASSPHRASE_FILE}
    if all(path.is_file() for path in paths.values()):
        return paths, False
    return make_demo_authority(directory), True
