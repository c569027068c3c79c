"""The organisation's signing key for gate answers (JWS), and its public half as a JWKS.

The private key is a PEM file named by ``WARDEN_GATE_KEY_FILE`` (settings from the environment):
Ed25519 (signed with the JWS algorithm "Ed25519", RFC 9864) or an EC P-256 key ("ES256"). It must not
be readable by group or others. In production Warden refuses to start without it, like the
key-encryption key; development and test runs generate an Ed25519 key under ``DATA_DIR`` on first use
(mode 0600) and log a warning.

Make one with ``openssl genpkey -algorithm ed25519 -out warden-signing.pem && chmod 600 warden-signing.pem``.

The key id (``kid``) is the key's RFC 7638 thumbprint, so pipelines can pick the right key from
``GET /api/gate/jwks/`` and a replaced key never matches an old answer by accident. To rotate: make a
new key, point ``WARDEN_GATE_KEY_FILE`` at it, and add the old key (or its public half) to the PEM
bundle named by ``WARDEN_GATE_RETIRED_KEYS_FILE``: it stays in the JWKS, so answers signed with it
still verify, while only the new key signs.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.core.exceptions import ImproperlyConfigured
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

logger = logging.getLogger("assessments.approvals")

ENV_SIGNING_KEY_FILE = "WARDEN_GATE_KEY_FILE"
DEV_SIGNING_KEY_NAME = "warden-dev-signing.pem"
JWS_TYPE = "warden-gate+jws"


@dataclass(frozen=True)
class SigningKey:
    key: OKPKey | ECKey
    alg: str
    kid: str
    source: str

    def public_jwk(self) -> dict:
        return {**self.key.as_dict(private=False), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def __repr__(self) -> str:  # never the key
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r}, source={self.source!r})"


def _from_pem(data: bytes, *, source: str) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source} is not an unencrypted PEM private key ({exc})") from None
    if isinstance(private, ed25519.Ed25519PrivateKey):
        key, alg = OKPKey.import_key(data), "Ed25519"
    elif isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1):
        key, alg = ECKey.import_key(data), "ES256"
    else:
        raise ImproperlyConfigured(f"{source} must hold an Ed25519 or EC P-256 private key")
    return SigningKey(key=key, alg=alg, kid=key.thumbprint(), source=source)


def _read(path: Path, *, production: bool, source: str) -> SigningKey:
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(f"{source}: cannot read the signing key {path}: {exc.strerror or exc}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        message = f"{source}: the signing key {path} is readable by group or others; chmod 600 it"
        if production:
            raise ImproperlyConfigured(message)
        logger.warning(message)
    return _from_pem(data, source=source)


_dev_lock = threading.Lock()


def _development_key(data_dir: Path) -> Path:
    path = Path(data_dir) / DEV_SIGNING_KEY_NAME
    with _dev_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            try:
                # O_EXCL: two processes starting together cannot each create a different key.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
                    handle.flush()
                    os.fsync(handle.fileno())
                logger.warning("No signing key is configured (%s): generated a development key at %s. Set %s in "
                               "production.", ENV_SIGNING_KEY_FILE, path, ENV_SIGNING_KEY_FILE)
    for _ in range(50):  # another process may still be writing it
        if path.stat().st_size:
            break
        threading.Event().wait(0.02)
    return path


def load_signing_key(*, key_file: str, production: bool, data_dir: Path) -> SigningKey:
    """The configured key; callable from settings.py (before Django is ready) to refuse a bad start."""
    if key_file:
        return _read(Path(key_file), production=production, source=ENV_SIGNING_KEY_FILE)
    if production:
        raise ImproperlyConfigured(f"{ENV_SIGNING_KEY_FILE} must name the PEM key that signs gate answers in "
                                   "production")
    path = _development_key(Path(data_dir))
    return _read(path, production=False, source=f"development signing key {path}")


# A replaced key file is noticed within this long (a stat() of it for every gate answer is wasted work).
FILE_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class _Loaded:
    configuration: tuple
    file_stamp: int | None
    checked_at: float
    key: SigningKey


# Replaced whole, never changed in place: threads that race here at most read the file twice.
_loaded: _Loaded | None = None


def current_signing_key() -> SigningKey:
    """The key for this process, re-read when the setting changes or the file's mtime does (looked at
    at most once a second)."""
    global _loaded
    from django.conf import settings

    key_file = getattr(settings, "WARDEN_GATE_KEY_FILE", "")
    production = bool(getattr(settings, "PRODUCTION", False))
    data_dir = str(getattr(settings, "DATA_DIR", "."))
    configuration = (key_file, data_dir, production)
    now = time.monotonic()
    loaded = _loaded
    same_configuration = loaded is not None and loaded.configuration == configuration
    if same_configuration and now - loaded.checked_at < FILE_RECHECK_SECONDS:
        return loaded.key
    watched = Path(key_file) if key_file else Path(data_dir) / DEV_SIGNING_KEY_NAME
    try:
        stamp = watched.stat().st_mtime_ns
    except OSError:
        stamp = None
    if same_configuration and loaded.file_stamp == stamp:
        key = loaded.key
    else:
        key = load_signing_key(key_file=key_file, production=production, data_dir=Path(data_dir))
    _loaded = _Loaded(configuration, stamp, now, key)
    return key


def canonical_json(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(payload: dict, key: SigningKey | None = None) -> str:
    """A compact JWS over the canonical JSON of ``payload``."""
    return sign_bytes(canonical_json(payload), key)


def sign_bytes(payload: bytes, key: SigningKey | None = None) -> str:
    """A compact JWS over exactly these bytes (a JSON document the caller encoded)."""
    key = key or current_signing_key()
    header = {"alg": key.alg, "kid": key.kid, "typ": JWS_TYPE}
    return jws.serialize_compact(header, payload, key.key, algorithms=[key.alg])


def _public_from_pem(block: bytes, *, source: str) -> dict:
    try:
        public = serialization.load_pem_public_key(block)
    except ValueError:
        try:
            public = serialization.load_pem_private_key(block, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{source} holds a block that is not a PEM key ({exc})") from None
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(public, ed25519.Ed25519PublicKey):
        key, alg = OKPKey.import_key(pem), "Ed25519"
    elif isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        key, alg = ECKey.import_key(pem), "ES256"
    else:
        raise ImproperlyConfigured(f"{source} holds a key that is neither Ed25519 nor EC P-256")
    return {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": alg, "use": "sig"}


def retired_public_keys(path: str) -> list[dict]:
    """Public JWKs of keys that signed earlier answers (a PEM bundle; private keys give their public half).

    Published beside the current key after a rotation, so that answers a pipeline kept still verify.
    """
    if not path:
        return []
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(f"WARDEN_GATE_RETIRED_KEYS_FILE: cannot read {path}: {exc.strerror or exc}") \
            from None
    blocks = [b"-----BEGIN" + part for part in text.split(b"-----BEGIN")[1:]]
    if not blocks:
        raise ImproperlyConfigured(f"WARDEN_GATE_RETIRED_KEYS_FILE: {path} holds no PEM key")
    return [_public_from_pem(block, source="WARDEN_GATE_RETIRED_KEYS_FILE") for block in blocks]


def jwks(key: SigningKey | None = None) -> dict:
    """The current public key, then any retired ones still published (``WARDEN_GATE_RETIRED_KEYS_FILE``)."""
    from django.conf import settings

    key = key or current_signing_key()
    keys = [key.public_jwk()]
    for retired in retired_public_keys(getattr(settings, "WARDEN_GATE_RETIRED_KEYS_FILE", "")):
        if retired["kid"] not in {k["kid"] for k in keys}:
            keys.append(retired)
    return {"keys": keys}


def verify(token: str, jwks_document: dict) -> dict:
    """The payload of ``token`` if a key of ``jwks_document`` signed it; raises ValueError otherwise.

    What a pipeline does with the published keys (shown in the README), also used by the tests.
    """
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        keys = KeySet.import_key_set(jwks_document)
        obj = jws.deserialize_compact(token, keys, algorithms=["Ed25519", "ES256"])
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the signature does not verify: {exc}") from None
    return json.loads(obj.payload)
