# Model version lifecycle (issue 8).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('governance', '0005_data_protection')]

    operations = []
