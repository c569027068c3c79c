# Assessment answers are encrypted at rest (issue 9): the column becomes text holding ciphertext, and
# the answers already stored are encrypted in place (and decrypted again on the way back).
from django.db import migrations

import governance.crypto.fields

CONTEXT = "assessments.Assessment.answers"


def _rewrite(apps, schema_editor, change):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, answers FROM assessments_assessment")
        rows = cursor.fetchall()
        for pk, stored in rows:
            value = change(stored)
            if value is not None:
                cursor.execute("UPDATE assessments_assessment SET answers = %s WHERE id = %s", [value, pk])


def encrypt(apps, schema_editor):
    from governance.crypto.fields import encrypt_value, is_encrypted

    _rewrite(apps, schema_editor, lambda stored: None if not stored or is_encrypted(stored)
             else encrypt_value(stored, context=CONTEXT))


def decrypt(apps, schema_editor):
    from governance.crypto.fields import decrypt_value, is_encrypted

    _rewrite(apps, schema_editor, lambda stored: decrypt_value(stored, context=CONTEXT)
             if stored and is_encrypted(stored) else None)


class Migration(migrations.Migration):
    dependencies = [('assessments', '0005_approvals_monitoring')]

    operations = [
        migrations.AlterField(
            model_name='assessment',
            name='answers',
            field=governance.crypto.fields.EncryptedJSONField(blank=True, default=dict),
        ),
        migrations.RunPython(encrypt, decrypt),
    ]
