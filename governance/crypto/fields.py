"""``EncryptedTextField``: database text that is stored only as AES-256-GCM ciphertext.

For sensitive free text that is never searched: the details of a data subject in an erasure
request, notes that name people. The value in the database reads

    wf1$<kek id>$<base64url(nonce ‖ ciphertext ‖ tag)>

and is encrypted under a field key derived (HKDF-SHA256) from the key-encryption key named in it,
which comes from the environment or a key file like every KEK (``governance.crypto.keys``), never
from the database. The associated data binds the value to its model and field, so a ciphertext
copied into another column does not decrypt. Values written under an older KEK stay readable while
that KEK is configured; ``rotate_keys`` re-encrypts them under the current one
(``reencrypt_fields``).

Such a column cannot be filtered on (the same text encrypts differently every time): only
``isnull`` lookups are offered. Someone with the database alone learns the length of each value
and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.lookups import IsNull

from governance.crypto.errors import EncryptedStorageError
from governance.crypto.keys import KEY_ID_PATTERN, KeyRing, current_keyring

PREFIX = "wf1"
NONCE_BYTES = 12
_field_keys: dict[tuple[str, bytes], bytes] = {}
_field_keys_lock = threading.Lock()


class EncryptedValueError(EncryptedStorageError):
    """A stored value does not decrypt: it was altered, moved from another column, or its key is gone."""


def _field_key(key_id: str, kek: bytes) -> bytes:
    with _field_keys_lock:
        cached = _field_keys.get((key_id, kek))
    if cached is None:
        # A key of its own for database fields: a value never shares a key with a file's key slot.
        cached = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"warden-db-field-v1").derive(kek)
        with _field_keys_lock:
            _field_keys[(key_id, kek)] = cached
    return cached


def _aad(context: str, key_id: str) -> bytes:
    return b"warden-field-v1\x00" + context.encode("utf-8") + b"\x00" + key_id.encode("ascii")


def encrypt_value(plaintext: str, *, context: str, keyring: KeyRing | None = None) -> str:
    keyring = keyring or current_keyring()
    key_id = keyring.current_id
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(_field_key(key_id, keyring.key(key_id))).encrypt(
        nonce, plaintext.encode("utf-8"), _aad(context, key_id)
    )
    return f"{PREFIX}${key_id}${base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def is_encrypted(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX + "$")


def value_key_id(stored: str) -> str:
    parts = stored.split("$")
    if len(parts) != 3 or parts[0] != PREFIX or not KEY_ID_PATTERN.match(parts[1]):
        raise EncryptedValueError(
            "an encrypted database value is not in Warden's format (it was altered or written by something else)"
        )
    return parts[1]


def decrypt_value(stored: str, *, context: str, keyring: KeyRing | None = None) -> str:
    key_id = value_key_id(stored)
    keyring = keyring or current_keyring()
    try:
        blob = base64.urlsafe_b64decode(stored.split("$")[2].encode("ascii"))
    except (binascii.Error, ValueError):
        raise EncryptedValueError(f"an encrypted value of {context} is not valid base64: it was altered") from None
    if len(blob) < NONCE_BYTES + 16:
        raise EncryptedValueError(f"an encrypted value of {context} is truncated")
    try:
        plaintext = AESGCM(_field_key(key_id, keyring.key(key_id))).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(context, key_id)
        )
    except InvalidTag:
        raise EncryptedValueError(
            f"an encrypted value of {context} failed its integrity check: it was altered, copied from "
            f"another column, or the key-encryption key {key_id!r} is not the one it was written with"
        ) from None
    return plaintext.decode("utf-8")


class EncryptedTextField(models.TextField):
    """A TextField whose stored value is ciphertext (see the module docstring). Not searchable."""

    description = "Text encrypted at rest (AES-256-GCM under a key derived from the key-encryption key)"

    def contribute_to_class(self, cls, name, private_only=False):
        super().contribute_to_class(cls, name, private_only=private_only)
        self.encryption_context = f"{cls._meta.label}.{name}"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_value(value, context=self.encryption_context)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_value(value, context=self.encryption_context)

    def get_lookup(self, lookup_name):
        # Any other lookup would compare ciphertexts and silently match nothing.
        return IsNull if lookup_name == "isnull" else None

    def value_from_plaintext(self, plaintext: str):
        """What to assign to the field for a decrypted value (``rotate_keys`` writes it back)."""
        return plaintext


class EncryptedJSONField(EncryptedTextField):
    """JSON kept as ciphertext: for structured answers that hold free text naming people (a DPIA's
    answers). Read and written as Python values; stored as the encrypted JSON text. Not searchable."""

    description = "JSON encrypted at rest (AES-256-GCM under a key derived from the key-encryption key)"

    def from_db_value(self, value, expression, connection):
        text = super().from_db_value(value, expression, connection)
        return json.loads(text) if text not in (None, "") else text

    def to_python(self, value):
        if isinstance(value, str) and value:
            try:
                return json.loads(value)
            except ValueError:
                raise ValidationError("Enter valid JSON.", code="invalid") from None
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_value(json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
                             context=self.encryption_context)

    def value_from_plaintext(self, plaintext: str):
        return json.loads(plaintext)

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj), ensure_ascii=False, sort_keys=True)


def encrypted_fields() -> Iterator[tuple[type[models.Model], list[EncryptedTextField]]]:
    from django.apps import apps

    for model in apps.get_models():
        fields = [field for field in model._meta.concrete_fields if isinstance(field, EncryptedTextField)]
        if fields:
            yield model, fields


def reencrypt_fields(*, keyring: KeyRing | None = None, dry_run: bool = False) -> dict[str, int]:
    """Re-encrypt every encrypted database value that is not under the current KEK.

    Resumable like file rotation: a value already under the current key is left alone. Reads the
    raw column (no decryption on load), so one bad value is counted and reported, not fatal.
    """
    keyring = keyring or current_keyring()
    counts = {"reencrypted": 0, "current": 0, "errors": 0}
    for model, fields in encrypted_fields():
        for field in fields:
            rows = (model._default_manager.exclude(**{f"{field.attname}__isnull": True})
                    .values_list("pk", models.functions.Cast(field.attname, models.TextField())))
            for pk, stored in rows.iterator(chunk_size=500):
                if not stored:
                    continue
                try:
                    if value_key_id(stored) == keyring.current_id:
                        counts["current"] += 1
                        continue
                    plaintext = decrypt_value(stored, context=field.encryption_context, keyring=keyring)
                except EncryptedStorageError:
                    counts["errors"] += 1
                    continue
                if not dry_run:
                    # update() runs get_prep_value: the value is encrypted again, under the current key.
                    value = field.value_from_plaintext(plaintext)
                    model._default_manager.filter(pk=pk).update(**{field.attname: value})
                counts["reencrypted"] += 1
    return counts
