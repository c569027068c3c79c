# Evidence packs (issue 6): the pack records, and the daily expiry flag on evidence revisions.
import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [('governance', '0003_evidence')]

    operations = [
        migrations.AddField(
            model_name='evidencerevision',
            name='expiry_flagged_on',
            field=models.DateField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='EvidencePack',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('pack_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('scope_kind', models.CharField(choices=[('model', 'One model and its datasets'), ('framework', 'A framework for a business unit'), ('org', 'The whole organisation')], max_length=10)),
                ('scope_key', models.CharField(db_index=True, max_length=300)),
                ('scope_label', models.CharField(max_length=300)),
                ('period_start', models.DateField()),
                ('period_end', models.DateField()),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Building'), ('succeeded', 'Ready'), ('failed', 'Failed')], default='queued', max_length=10)),
                ('progress', models.PositiveSmallIntegerField(default=0)),
                ('progress_message', models.CharField(blank=True, max_length=200)),
                ('error', models.CharField(blank=True, max_length=1000)),
                ('claim_token', models.CharField(blank=True, max_length=32)),
                ('lease_expires_at', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('queued_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('file', models.FileField(blank=True, max_length=255, upload_to='')),
                ('size', models.BigIntegerField(blank=True, null=True)),
                ('sha256', models.CharField(blank=True, max_length=64)),
                ('page_count', models.PositiveIntegerField(blank=True, null=True)),
                ('item_count', models.PositiveIntegerField(blank=True, null=True)),
                ('signer_subject', models.CharField(blank=True, max_length=300)),
                ('signer_fingerprint', models.CharField(blank=True, max_length=64)),
                ('previous_sha256', models.CharField(blank=True, max_length=64)),
                ('render_seconds', models.FloatField(blank=True, null=True)),
                ('sign_seconds', models.FloatField(blank=True, null=True)),
                ('business_unit', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='evidence_packs', to='governance.businessunit')),
                ('framework', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='evidence_packs', to='assessments.framework')),
                ('model', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='evidence_packs', to='governance.mlmodel')),
                ('previous_pack', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='governance.evidencepack')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-queued_at', '-id'],
                'indexes': [models.Index(fields=['scope_key', '-finished_at'], name='governance__scope_k_f02093_idx')],
            },
        ),
    ]
