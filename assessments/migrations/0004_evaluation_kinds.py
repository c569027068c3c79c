# Fairness and robustness run kinds (issue 7): no schema change, the kinds were already among the
# choices of EvaluationRun.kind. Kept so that later migrations depend on a stable name.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [('assessments', '0003_evaluations')]

    operations = []
