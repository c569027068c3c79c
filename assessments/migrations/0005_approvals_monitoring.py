# Approvals, deployment gate and monitoring (issue 8).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('assessments', '0004_evaluation_kinds'), ('governance', '0006_model_lifecycle')]

    operations = []
