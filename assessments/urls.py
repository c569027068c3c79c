from django.urls import include, path

urlpatterns = [
    path("", include("assessments.urls_wizards")),
    path("", include("assessments.urls_register")),
    path("", include("assessments.urls_runs")),
    path("", include("assessments.approvals.urls")),
    path("", include("assessments.monitoring.urls")),
]
