"""Data protection (issue 9): retention and erasure, erasure requests, de-identified copies."""

from django.urls import path

from governance.deidentify import views as deidentify
from governance.retention import views as retention

urlpatterns = [
    path("", retention.overview, name="data_protection"),
    path("datasets/<int:pk>/versions/<int:version_pk>/erase/", retention.version_erase, name="dataset_version_erase"),
    path("datasets/<int:pk>/versions/<int:version_pk>/keep/", retention.version_hold, name="dataset_version_hold"),
    path("requests/", retention.erasure_request_list, name="erasure_request_list"),
    path("requests/new/", retention.erasure_request_create, name="erasure_request_create"),
    path("requests/<int:pk>/", retention.erasure_request_detail, name="erasure_request_detail"),
    path("requests/<int:pk>/versions/", retention.erasure_request_add_version, name="erasure_request_add_version"),
    path("requests/<int:pk>/items/<int:item_pk>/not-held/", retention.erasure_item_not_held,
         name="erasure_item_not_held"),
    path("requests/<int:pk>/close/", retention.erasure_request_close, name="erasure_request_close"),
    path("datasets/<int:pk>/versions/<int:version_pk>/deidentify/", deidentify.deidentify_form,
         name="dataset_version_deidentify"),
    path("copies/<int:pk>/", deidentify.deidentify_job, name="deidentify_job"),
    path("copies/<int:pk>/requeue/", deidentify.deidentify_job_requeue, name="deidentify_job_requeue"),
]
