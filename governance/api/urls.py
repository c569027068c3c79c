"""The REST API, mounted at /api/.

The schema and its documentation pages are public: they describe the endpoints and reveal no data
(every data endpoint needs a token or a session). The documentation page loads Swagger UI from Warden's
own static files (drf-spectacular-sidecar), never from a CDN, and its start-up script from
/api/docs/?script (the "split" view), so the page runs under the no-inline-script Content Security
Policy. drf-spectacular's Redoc page is left out: its template fetches web fonts from Google.
"""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from governance.api import views
from governance.deidentify import api as deidentify_api
from governance.packs import api as packs_api

_public = {"authentication_classes": [], "permission_classes": [AllowAny]}

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(**_public), name="api_schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema", **_public), name="api_docs"),
    path("business-units/", views.BusinessUnitList.as_view(), name="api_business_units"),
    path("models/", views.ModelList.as_view(), name="api_models"),
    path("models/<int:pk>/", views.ModelDetail.as_view(), name="api_model_detail"),
    path("models/<int:pk>/versions/", views.ModelVersionList.as_view(), name="api_model_versions"),
    path("models/<int:pk>/versions/<int:vid>/", views.ModelVersionDetail.as_view(),
         name="api_model_version_detail"),
    path("models/<int:pk>/versions/<int:vid>/artifact/", views.ModelVersionArtifact.as_view(),
         name="api_model_version_artifact"),
    path("datasets/", views.DatasetList.as_view(), name="api_datasets"),
    path("datasets/<int:pk>/", views.DatasetDetail.as_view(), name="api_dataset_detail"),
    path("datasets/<int:pk>/versions/", views.DatasetVersionList.as_view(), name="api_dataset_versions"),
    path("datasets/<int:pk>/versions/<int:vid>/", views.DatasetVersionDetail.as_view(),
         name="api_dataset_version_detail"),
    path("datasets/<int:pk>/versions/<int:vid>/file/", views.DatasetVersionFile.as_view(),
         name="api_dataset_version_file"),
    path("datasets/<int:pk>/versions/<int:vid>/deidentify/", deidentify_api.DeidentifyCreate.as_view(),
         name="api_dataset_version_deidentify"),
    path("deidentification-jobs/<int:job_id>/", deidentify_api.DeidentifyJobDetail.as_view(),
         name="api_deidentification_job"),
    path("packs/", packs_api.PackList.as_view(), name="api_packs"),
    path("packs/<uuid:pack_id>/", packs_api.PackDetail.as_view(), name="api_pack_detail"),
    path("packs/<uuid:pack_id>/download/", packs_api.PackDownload.as_view(), name="api_pack_download"),
    path("", include("assessments.api.urls")),
    # Last: anything else under /api/ is a JSON 404.
    re_path(r"^.*$", views.not_found, name="api_not_found"),
]
