"""Approval pages under /assessments/ (included by assessments/urls.py)."""

from django.urls import path

from assessments.approvals import views

urlpatterns = [
    path("approvals/", views.approval_queue, name="approval_queue"),
    path("models/<int:pk>/versions/<int:version_pk>/approval/", views.version_approval, name="version_approval"),
    path("models/<int:pk>/versions/<int:version_pk>/approval/<slug:action>/", views.version_lifecycle_action,
         name="version_lifecycle_action"),
]
