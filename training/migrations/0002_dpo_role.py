# The data-protection officer role (issue 8) is also a role a training requirement can name.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [('training', '0001_initial')]

    operations = [
        migrations.AlterField(
            model_name='trainingrequirement',
            name='role',
            field=models.CharField(blank=True, choices=[
                ('', 'Any role'), ('admin', 'Admin'), ('risk_manager', 'Risk manager'), ('ml_lead', 'ML lead'),
                ('staff', 'Staff'), ('auditor', 'Auditor'), ('dpo', 'Data-protection officer'),
            ], max_length=20),
        ),
    ]
