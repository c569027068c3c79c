# Fairness and robustness run kinds (issue 7).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('assessments', '0003_evaluations')]

    operations = []
