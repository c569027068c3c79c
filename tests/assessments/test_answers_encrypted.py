"""Assessment answers are encrypted at rest (issue 9): free text naming people never sits in the
database or the audit trail in clear; the wizard reads them as before; rotation and the migration
that encrypted existing answers work on them."""

import base64
import importlib
import json

import pytest
from django.db import connection

from assessments.models import Assessment
from assessments.services import wizard as services
from governance.crypto.fields import is_encrypted, reencrypt_fields, value_key_id
from governance.crypto.keys import clear_keyring_cache
from governance.models import AuditEntry
from tests.assessments.register_fixtures import *  # noqa: F403
from tests.assessments.test_wizard_services import model, save  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
NAMED = "Dr Jane Whitfield (patient 4711) reviewed the scoring rules"
migration = importlib.import_module("assessments.migrations.0006_encrypt_assessment_answers")


def _raw(assessment) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT answers FROM assessments_assessment WHERE id = %s", [assessment.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def dpia(catalog, risk_manager, model):  # noqa: F811
    assessment = services.assessment_start(actor=risk_manager, model=model, kind="dpia")
    return save(risk_manager, assessment, "processing", {"processing_description": NAMED, "operations": ["training"],
                                                        "scale": "small", "innovative": False})


def test_free_text_is_ciphertext_in_the_database_and_plain_in_the_wizard(dpia):
    stored = _raw(dpia)
    assert is_encrypted(stored) and "Whitfield" not in stored and "training" not in stored
    assert Assessment.objects.get(pk=dpia.pk).answers["processing_description"] == NAMED


def test_the_audit_trail_records_choices_but_not_free_text(dpia):
    entry = AuditEntry.objects.filter(object_id=str(dpia.pk), changes__has_key="answers").latest("id")
    assert entry.changes["answers"]["processing_description"] == "(text changed)"
    assert entry.changes["answers"]["operations"] == ["training"]
    assert "Whitfield" not in json.dumps(entry.changes)


def test_rotation_reencrypts_answers_under_the_new_key(catalog, risk_manager, model, monkeypatch):  # noqa: F811
    old, new = base64.b64encode(b"o" * 32).decode(), base64.b64encode(b"n" * 32).decode()
    monkeypatch.delenv("WARDEN_KEK_FILE", raising=False)
    monkeypatch.setenv("WARDEN_KEK", f"old:{old}")
    clear_keyring_cache()
    try:
        assessment = services.assessment_start(actor=risk_manager, model=model, kind="dpia")
        assert value_key_id(_raw(assessment)) == "old"
        monkeypatch.setenv("WARDEN_KEK", f"old:{old},new:{new}")
        clear_keyring_cache()
        assert reencrypt_fields()["errors"] == 0
        assert value_key_id(_raw(assessment)) == "new"
        monkeypatch.setenv("WARDEN_KEK", f"new:{new}")
        clear_keyring_cache()
        assert Assessment.objects.get(pk=assessment.pk).answers == assessment.answers
    finally:
        clear_keyring_cache()


def test_the_migration_encrypts_plain_answers_and_decrypts_them_back(dpia):
    plain = json.dumps({"processing_description": NAMED})
    with connection.cursor() as cursor:
        cursor.execute("UPDATE assessments_assessment SET answers = %s WHERE id = %s", [plain, dpia.pk])

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    migration.encrypt(None, editor)
    assert is_encrypted(_raw(dpia)) and Assessment.objects.get(pk=dpia.pk).answers["processing_description"] == NAMED
    migration.encrypt(None, editor)  # running it again changes nothing
    assert Assessment.objects.get(pk=dpia.pk).answers["processing_description"] == NAMED
    migration.decrypt(None, editor)
    assert json.loads(_raw(dpia)) == {"processing_description": NAMED}
