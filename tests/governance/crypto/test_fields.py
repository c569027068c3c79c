"""EncryptedTextField: ciphertext in the database, plaintext in Python, refused when altered, rotated."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from governance.crypto import fields
from governance.crypto.fields import EncryptedValueError
from governance.crypto.keys import clear_keyring_cache
from governance.models.data_protection import ErasureRequest

pytestmark = pytest.mark.django_db

SECRET = "Jane Example, born 1 May 1980, customer 0042"


def _raw(pk: int, column: str = "subject_details") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM governance_erasurerequest WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def _write_raw(pk: int, value: str, column: str = "subject_details") -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE governance_erasurerequest SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


@pytest.fixture
def erasure_request(retail, admin_user):
    return ErasureRequest.objects.create(
        business_unit=retail, subject_ref_hash="0" * 64, subject_reference="customer 0042", subject_details=SECRET,
        received_at="2026-12-01", due_at="2026-12-31", created_by=admin_user,
    )


def test_the_database_holds_ciphertext_and_python_sees_plaintext(erasure_request):
    raw = _raw(erasure_request.pk)
    assert SECRET not in raw and "Jane" not in raw and raw.startswith("wf1$")
    assert ErasureRequest.objects.get(pk=erasure_request.pk).subject_details == SECRET
    assert ErasureRequest.objects.values_list("subject_details", flat=True).get() == SECRET
    # The same text encrypts differently each time (random nonce): equal values are not revealed.
    other = ErasureRequest.objects.create(**{**_copy_fields(erasure_request), "subject_details": SECRET})
    assert _raw(other.pk) != raw


def _copy_fields(request) -> dict:
    return {"business_unit": request.business_unit, "subject_ref_hash": "1" * 64, "subject_reference": "x",
            "received_at": request.received_at, "due_at": request.due_at, "created_by": request.created_by}


def test_empty_values_stay_empty(erasure_request):
    ErasureRequest.objects.filter(pk=erasure_request.pk).update(outcome="")
    assert _raw(erasure_request.pk, "outcome") == ""
    assert ErasureRequest.objects.get(pk=erasure_request.pk).outcome == ""


@pytest.mark.parametrize("tamper", [
    lambda raw: raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB"),
    lambda raw: raw.split("$")[0] + "$" + raw.split("$")[1] + "$" + "!!!not-base64",
    lambda raw: raw.split("$")[0] + "$" + raw.split("$")[1] + "$" + "AAAA",
    lambda raw: "wf1$nope",
])
def test_an_altered_value_is_refused(erasure_request, tamper):
    _write_raw(erasure_request.pk, tamper(_raw(erasure_request.pk)))
    with pytest.raises(EncryptedValueError):
        ErasureRequest.objects.get(pk=erasure_request.pk)


def test_a_value_moved_to_another_column_does_not_decrypt(erasure_request):
    _write_raw(erasure_request.pk, _raw(erasure_request.pk, "subject_details"), column="subject_reference")
    with pytest.raises(EncryptedValueError, match="copied from another column"):
        ErasureRequest.objects.get(pk=erasure_request.pk)


def test_encrypted_columns_cannot_be_searched(erasure_request):
    from django.core.exceptions import FieldError

    with pytest.raises(FieldError):
        ErasureRequest.objects.filter(subject_details=SECRET).exists()
    with pytest.raises(FieldError):
        ErasureRequest.objects.filter(subject_details__icontains="Jane").exists()
    assert ErasureRequest.objects.filter(subject_details__isnull=False).count() == 1


def test_rotate_keys_reencrypts_field_values_under_the_new_key(retail, admin_user, monkeypatch):
    old = base64.b64encode(b"o" * 32).decode()
    new = base64.b64encode(b"n" * 32).decode()
    monkeypatch.delenv("WARDEN_KEK_FILE", raising=False)
    monkeypatch.setenv("WARDEN_KEK", f"old:{old}")
    clear_keyring_cache()
    try:
        request = ErasureRequest.objects.create(
            business_unit=retail, subject_ref_hash="0" * 64, subject_reference="customer 0042",
            subject_details=SECRET, received_at="2026-12-01", due_at="2026-12-31", created_by=admin_user,
        )
        assert fields.value_key_id(_raw(request.pk)) == "old"

        monkeypatch.setenv("WARDEN_KEK", f"old:{old},new:{new}")
        clear_keyring_cache()
        out = io.StringIO()
        call_command("rotate_keys", stdout=out)
        assert "Database fields: re-encrypted 2, already current 0, errors 0" in out.getvalue()
        assert fields.value_key_id(_raw(request.pk)) == "new"

        # Resumable: a second run finds everything current, and the old key is no longer needed to read.
        monkeypatch.setenv("WARDEN_KEK", f"new:{new}")
        clear_keyring_cache()
        assert fields.reencrypt_fields() == {"reencrypted": 0, "current": 2, "errors": 0}
        assert ErasureRequest.objects.get(pk=request.pk).subject_details == SECRET
    finally:
        clear_keyring_cache()


def test_rotate_keys_fails_on_a_value_it_cannot_decrypt(erasure_request):
    _write_raw(erasure_request.pk, "wf1$k000000000000$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_keys", stdout=io.StringIO(), stderr=io.StringIO())
