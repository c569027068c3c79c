"""Monitoring pages under /assessments/ (included by assessments/urls.py)."""

from django.urls import path

from assessments.monitoring import views

urlpatterns = [
    path("models/<int:pk>/versions/<int:version_pk>/monitoring/", views.version_monitoring,
         name="version_monitoring"),
    path("monitoring/alerts/<int:pk>/status/", views.alert_status, name="monitoring_alert_status"),
]
