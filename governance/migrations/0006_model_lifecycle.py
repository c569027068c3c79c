# Model version lifecycle (issue 8).
from django.db import migrations, models

ROLE_CHOICES = [
    ('admin', 'Admin'), ('risk_manager', 'Risk manager'), ('ml_lead', 'ML lead'), ('staff', 'Staff'),
    ('auditor', 'Auditor'), ('dpo', 'Data-protection officer'),
]


class Migration(migrations.Migration):
    dependencies = [('governance', '0005_data_protection')]

    operations = [
        migrations.AddField(
            model_name='modelversion',
            name='review_cycle',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='modelversion',
            name='status_changed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='invitation',
            name='role',
            field=models.CharField(choices=ROLE_CHOICES, max_length=20),
        ),
        migrations.AlterField(
            model_name='rolegrant',
            name='role',
            field=models.CharField(choices=ROLE_CHOICES, max_length=20),
        ),
        migrations.AlterField(
            model_name='rolepolicy',
            name='role',
            field=models.CharField(choices=ROLE_CHOICES, max_length=20, unique=True),
        ),
    ]
