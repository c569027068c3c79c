# Approvals, deployment gate and monitoring (issue 8).
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [('assessments', '0004_evaluation_kinds'), ('governance', '0006_model_lifecycle'),
                    migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name='MonitoringWindow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('idempotency_key', models.CharField(max_length=200)),
                ('body_sha256', models.CharField(max_length=64)),
                ('window_start', models.DateTimeField()),
                ('window_end', models.DateTimeField()),
                ('request_count', models.BigIntegerField()),
                ('error_count', models.BigIntegerField(default=0)),
                ('predictions', models.JSONField(blank=True, default=dict)),
                ('features', models.JSONField(blank=True, default=dict)),
                ('labelled_count', models.BigIntegerField(blank=True, null=True)),
                ('accuracy', models.FloatField(blank=True, null=True)),
                ('groups', models.JSONField(blank=True, default=dict, help_text='{grouping: {group: {count, selected}}}')),
                ('labels_sha256', models.CharField(blank=True, max_length=64)),
                ('labels_received_at', models.DateTimeField(blank=True, null=True)),
                ('drift', models.JSONField(blank=True, default=dict, help_text='{feature: {type, psi}} against the evaluation data')),
                ('max_psi', models.FloatField(blank=True, null=True)),
                ('drift_reference', models.CharField(blank=True, help_text='what the drift was measured against', max_length=200)),
                ('fairness', models.JSONField(blank=True, default=dict, help_text='{grouping: {rates, ratio}}')),
                ('min_selection_ratio', models.FloatField(blank=True, null=True)),
                ('received_at', models.DateTimeField(auto_now_add=True)),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='monitoring_windows', to='governance.modelversion')),
                ('reported_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['window_start', 'id'],
            },
        ),
        migrations.CreateModel(
            name='MonitoringAlert',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('drift', 'Input drift'), ('accuracy', 'Accuracy drop'), ('fairness', 'Selection-rate disparity'), ('errors', 'Error rate')], max_length=10)),
                ('metric', models.CharField(help_text='the feature, grouping or figure that crossed its threshold', max_length=200)),
                ('value', models.FloatField()),
                ('threshold', models.FloatField()),
                ('message', models.CharField(max_length=500)),
                ('status', models.CharField(choices=[('open', 'Open'), ('acknowledged', 'Acknowledged'), ('resolved', 'Resolved')], default='open', max_length=12)),
                ('email_status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed'), ('not_configured', 'Not configured')], default='pending', max_length=16)),
                ('webhook_status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed'), ('not_configured', 'Not configured')], default='pending', max_length=16)),
                ('webhook_attempts', models.PositiveSmallIntegerField(default=0)),
                ('webhook_error', models.CharField(blank=True, max_length=300)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='governance.modelversion')),
                ('risk', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='monitoring_alerts', to='assessments.risk')),
                ('window', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='alerts', to='assessments.monitoringwindow')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='SignOff',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('review_cycle', models.PositiveIntegerField()),
                ('role', models.CharField(max_length=20)),
                ('decision', models.CharField(choices=[('approve', 'Approved'), ('reject', 'Rejected')], max_length=8)),
                ('note', models.TextField(blank=True)),
                ('signed_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sign_offs', to='governance.modelversion')),
                ('signed_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['signed_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='LifecycleEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(choices=[('submit', 'Submitted for review'), ('withdraw', 'Withdrawn from review'), ('sign_off', 'Signed off'), ('reject', 'Rejected'), ('approve', 'Approved'), ('deploy', 'Deployed'), ('supersede', 'Replaced in production'), ('retire', 'Retired'), ('rollback', 'Rolled back'), ('restore', 'Deployed again by a rollback')], max_length=12)),
                ('from_status', models.CharField(max_length=12)),
                ('to_status', models.CharField(max_length=12)),
                ('review_cycle', models.PositiveIntegerField(default=0)),
                ('reason', models.TextField(blank=True)),
                ('checks', models.JSONField(blank=True, default=list)),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lifecycle_events', to='governance.modelversion')),
                ('related_version', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='governance.modelversion')),
            ],
            options={
                'ordering': ['-at', '-id'],
                'indexes': [models.Index(fields=['model_version', '-at'], name='assessments_model_v_cff639_idx')],
            },
        ),
        migrations.AddIndex(
            model_name='monitoringwindow',
            index=models.Index(fields=['model_version', '-window_start'], name='assessments_model_v_48b9d9_idx'),
        ),
        migrations.AddConstraint(
            model_name='monitoringwindow',
            constraint=models.UniqueConstraint(fields=('model_version', 'idempotency_key'), name='unique_window_key'),
        ),
        migrations.AddConstraint(
            model_name='monitoringwindow',
            constraint=models.UniqueConstraint(fields=('model_version', 'window_start'), name='unique_window_start'),
        ),
        migrations.AddConstraint(
            model_name='monitoringwindow',
            constraint=models.CheckConstraint(condition=models.Q(('window_end__gt', models.F('window_start'))), name='window_ends_after_start'),
        ),
        migrations.AddConstraint(
            model_name='monitoringwindow',
            constraint=models.CheckConstraint(condition=models.Q(('request_count__gte', 0), ('error_count__gte', 0), ('error_count__lte', models.F('request_count'))), name='window_counts_sane'),
        ),
        migrations.AddIndex(
            model_name='monitoringalert',
            index=models.Index(fields=['model_version', 'status'], name='assessments_model_v_739fe7_idx'),
        ),
        migrations.AddConstraint(
            model_name='monitoringalert',
            constraint=models.UniqueConstraint(fields=('window', 'kind', 'metric'), name='one_alert_per_window_metric'),
        ),
        migrations.AddConstraint(
            model_name='signoff',
            constraint=models.UniqueConstraint(fields=('model_version', 'review_cycle', 'role'), name='one_sign_off_per_role'),
        ),
        migrations.AddConstraint(
            model_name='signoff',
            constraint=models.UniqueConstraint(condition=models.Q(('decision', 'approve')), fields=('model_version', 'review_cycle', 'signed_by'), name='one_approval_per_person_per_review'),
        ),
    ]
