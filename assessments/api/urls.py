"""Evaluation runs under /api/ (included by governance/api/urls.py before its catch-all)."""

from django.urls import path

from assessments.api import views
from assessments.approvals import api as gate_api
from assessments.monitoring import api as monitoring_api

urlpatterns = [
    path("runs/", views.RunList.as_view(), name="api_runs"),
    path("runs/external/", views.ExternalRunSubmit.as_view(), name="api_run_external"),
    path("runs/<int:pk>/", views.RunDetail.as_view(), name="api_run_detail"),
    path("runs/<int:pk>/report/", views.RunReport.as_view(), name="api_run_report"),
    path("runs/<int:pk>/cancel/", views.RunCancel.as_view(), name="api_run_cancel"),
    path("runs/<int:pk>/rerun/", views.RunRerun.as_view(), name="api_run_rerun"),
    path("gate/", gate_api.GateView.as_view(), name="api_gate"),
    path("gate/jwks/", gate_api.GateKeysView.as_view(), name="api_gate_jwks"),
    path("models/<int:pk>/versions/<int:vid>/lifecycle/", gate_api.LifecycleView.as_view(),
         name="api_model_version_lifecycle"),
    path("monitoring/versions/<int:vid>/windows/", monitoring_api.WindowList.as_view(), name="api_monitoring_windows"),
    path("monitoring/windows/<int:pk>/labels/", monitoring_api.WindowLabels.as_view(), name="api_monitoring_labels"),
]
