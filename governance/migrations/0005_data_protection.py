# Retention, erasure and de-identified copies (issue 9).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('governance', '0004_evidence_packs')]

    operations = []
