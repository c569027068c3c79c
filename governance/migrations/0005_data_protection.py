# Retention, erasure and de-identified copies (issue 9).
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import governance.crypto.fields


class Migration(migrations.Migration):
    dependencies = [('governance', '0004_evidence_packs'), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [

        migrations.AddField(
            model_name='datasetversion',
            name='erased_at',
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name='datasetversion',
            name='erased_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='datasetversion',
            name='erasure_reason',
            field=models.TextField(blank=True),
        ),
        migrations.CreateModel(
            name='DeidentificationJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('new_version', models.CharField(max_length=60, verbose_name='label of the new version')),
                ('rules', models.JSONField(default=dict)),
                ('quasi_identifiers', models.JSONField(default=list)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='queued', max_length=10)),
                ('progress', models.PositiveSmallIntegerField(default=0)),
                ('message', models.CharField(blank=True, max_length=200)),
                ('error', models.CharField(blank=True, max_length=500)),
                ('summary', models.JSONField(blank=True, default=dict)),
                ('k_anonymity', models.PositiveIntegerField(blank=True, null=True)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('result_version', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='deidentified_from', to='governance.datasetversion')),
                ('source_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deidentified_copies', to='governance.datasetversion')),
            ],
            options={
                'verbose_name': 'de-identification job',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='ErasureRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subject_ref_hash', models.CharField(db_index=True, max_length=64)),
                ('subject_reference', governance.crypto.fields.EncryptedTextField(verbose_name='subject reference')),
                ('subject_details', governance.crypto.fields.EncryptedTextField(blank=True, verbose_name='how to identify the subject in the data')),
                ('received_at', models.DateField()),
                ('due_at', models.DateField()),
                ('status', models.CharField(choices=[('received', 'Received'), ('in_progress', 'In progress'), ('done', 'Done'), ('rejected', 'Rejected')], default='received', max_length=12)),
                ('outcome', governance.crypto.fields.EncryptedTextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('business_unit', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='erasure_requests', to='governance.businessunit')),
                ('closed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-received_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='ErasureRequestItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('open', 'To erase'), ('erased', 'Erased'), ('not_held', 'Checked: not held')], default='open', max_length=10)),
                ('note', governance.crypto.fields.EncryptedTextField(blank=True)),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('added_at', models.DateTimeField(auto_now_add=True)),
                ('added_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('request', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='governance.erasurerequest')),
                ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='erasure_request_items', to='governance.datasetversion')),
            ],
            options={
                'ordering': ['added_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='RetentionNotice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('listed_at', models.DateTimeField()),
                ('notified_at', models.DateTimeField(blank=True, null=True)),
                ('notified_count', models.PositiveIntegerField(default=0)),
                ('held_until', models.DateField(blank=True, null=True)),
                ('hold_reason', models.TextField(blank=True)),
                ('held_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('version', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='retention_notice', to='governance.datasetversion')),
            ],
        ),
        migrations.AddIndex(
            model_name='erasurerequest',
            index=models.Index(fields=['status', 'due_at'], name='governance__status_8ff5a6_idx'),
        ),
        migrations.AddConstraint(
            model_name='erasurerequestitem',
            constraint=models.UniqueConstraint(fields=('request', 'version'), name='unique_erasure_item_per_version'),
        ),
    ]
