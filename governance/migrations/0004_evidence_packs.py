# Evidence packs (issue 6).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('governance', '0003_evidence')]

    operations = []
