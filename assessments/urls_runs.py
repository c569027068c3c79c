"""Evaluation run pages (mounted under /assessments/)."""

from django.urls import path

from assessments.views import evaluations, runs

urlpatterns = [
    path("runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("runs/<int:pk>/report.<str:fmt>", runs.run_report, name="run_report"),
    path("runs/<int:pk>/chart.svg", runs.run_chart, name="run_chart"),
    path("runs/<int:pk>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/rerun/", runs.run_rerun, name="run_rerun"),
    path("runs/panel/<str:kind>/<int:pk>/", runs.run_panel, name="run_panel"),
    path("runs/start/<str:kind>/<int:pk>/", runs.run_start, name="run_start"),
    path("models/<int:pk>/evaluate/", evaluations.evaluation_start, name="model_evaluation_start"),
    path("models/<int:pk>/evaluations/", evaluations.evaluations_panel, name="model_evaluations_panel"),
]
