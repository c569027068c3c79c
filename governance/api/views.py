"""The REST API for CI pipelines and scripts.

Thin views, like the pages: every object is looked up through the ``governance.access`` helpers
(outsiders 404, read-only users 403 on writes), every write goes through one inventory service, and
every error leaves as ``{"error": ..., "fields": {...}}`` (``governance.api.errors``).
"""

from __future__ import annotations

import logging

from django.db.models import Count, Prefetch
from django.http import FileResponse, JsonResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from governance.access import (
    get_dataset_for_user,
    get_dataset_version_for_user,
    get_model_for_user,
    get_model_version_for_user,
    visible_datasets,
    visible_models,
)
from governance.api.authentication import API_AUTHENTICATION
from governance.api.filters import ApiPagination, DatasetFilter, ModelFilter
from governance.api.permissions import CanRegisterInventory
from governance.api.serializers import (
    BusinessUnitSerializer,
    DatasetDetailSerializer,
    DatasetSerializer,
    DatasetVersionCreateSerializer,
    DatasetVersionSerializer,
    DatasetWriteSerializer,
    MLModelDetailSerializer,
    MLModelSerializer,
    ModelVersionCreateSerializer,
    ModelVersionSerializer,
    ModelWriteSerializer,
    units_visible_to,
)
from governance.crypto.errors import EncryptedStorageError
from governance.models import DatasetVersion
from governance.models.audit import AuditAction
from governance.services import inventory
from governance.services.audit import audit_record

logger = logging.getLogger(__name__)


class StoredFileFailedIntegrity(exceptions.APIException):
    status_code = 409
    default_detail = "The stored file failed its integrity check and is not served."
    default_code = "integrity"

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": serializers.CharField(help_text="What went wrong, in one sentence."),
        "fields": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Messages per input field, when the problem is with particular fields.",
        ),
    },
)
READ_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No or invalid credentials."),
    404: OpenApiResponse(ErrorSerializer, description="No such object, or not visible to you."),
}
WRITE_ERRORS = {
    **READ_ERRORS,
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; nothing was saved."),
    403: OpenApiResponse(ErrorSerializer, description="You may see this but not change it."),
}


class ApiView(generics.GenericAPIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated]
    pagination_class = ApiPagination


# --- business units --------------------------------------------------------------------------

@extend_schema(tags=["organisation"], summary="Business units you hold a role in",
               responses={200: BusinessUnitSerializer(many=True), **READ_ERRORS})
class BusinessUnitList(ApiView, generics.ListAPIView):
    serializer_class = BusinessUnitSerializer

    def get_queryset(self):
        return units_visible_to(self.request.user).order_by("name", "id")


# --- models ----------------------------------------------------------------------------------

def _models_for(user):
    # Owner and unit are shown on every row, the version count comes from the same query.
    # Meta.ordering is not applied to a query with an aggregate: order explicitly for stable pages.
    return (
        visible_models(user).select_related("owner", "business_unit")
        .annotate(version_count=Count("versions")).order_by("name", "pk")
    )


class ModelList(ApiView, generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated, CanRegisterInventory]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ModelFilter
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_queryset(self):
        return _models_for(self.request.user)

    def get_serializer_class(self):
        return ModelWriteSerializer if self.request.method == "POST" else MLModelSerializer

    @extend_schema(tags=["models"], summary="List the models you can see",
                   responses={200: MLModelSerializer(many=True), **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(tags=["models"], summary="Register a model", request=ModelWriteSerializer,
                   responses={201: MLModelDetailSerializer, **WRITE_ERRORS})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = inventory.model_register(actor=request.user, **serializer.validated_data)
        data = MLModelDetailSerializer(model, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["url"]})


class ModelDetail(ApiView):
    http_method_names = ["get", "patch", "head", "options"]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_serializer_class(self):
        return ModelWriteSerializer if self.request.method == "PATCH" else MLModelDetailSerializer

    @extend_schema(tags=["models"], summary="One model",
                   responses={200: MLModelDetailSerializer, **READ_ERRORS})
    def get(self, request, pk: int):
        model = get_model_for_user(request.user, pk)
        return Response(MLModelDetailSerializer(model, context=self.get_serializer_context()).data)

    @extend_schema(tags=["models"], summary="Change a model (only the fields sent)",
                   request=ModelWriteSerializer(partial=True),
                   responses={200: MLModelDetailSerializer, **WRITE_ERRORS})
    def patch(self, request, pk: int):
        model = get_model_for_user(request.user, pk, write=True)
        serializer = ModelWriteSerializer(data=request.data, partial=True,
                                          context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        model = inventory.model_update(actor=request.user, model=model, **serializer.validated_data)
        return Response(MLModelDetailSerializer(model, context=self.get_serializer_context()).data)


def _model_versions(model):
    # Lineage is shown as ids: two prefetch queries for the whole page, whatever its length.
    only_ids = DatasetVersion.objects.only("id")
    return model.versions.select_related("created_by").prefetch_related(
        Prefetch("training_datasets", queryset=only_ids), Prefetch("evaluation_datasets", queryset=only_ids)
    )


class ModelVersionList(ApiView, generics.ListCreateAPIView):
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        return _model_versions(get_model_for_user(self.request.user, self.kwargs["pk"]))

    def get_serializer_class(self):
        return ModelVersionCreateSerializer if self.request.method == "POST" else ModelVersionSerializer

    @extend_schema(tags=["models"], summary="List a model's versions",
                   responses={200: ModelVersionSerializer(many=True), **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(tags=["models"], summary="Upload a new version of a model (multipart)",
                   request={"multipart/form-data": ModelVersionCreateSerializer},
                   responses={201: ModelVersionSerializer, **WRITE_ERRORS})
    def post(self, request, pk: int):
        model = get_model_for_user(request.user, pk, write=True)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = inventory.model_version_create(actor=request.user, model=model, **serializer.validated_data)
        data = ModelVersionSerializer(version, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["url"]})


class ModelVersionDetail(ApiView):
    serializer_class = ModelVersionSerializer

    @extend_schema(tags=["models"], summary="One model version",
                   responses={200: ModelVersionSerializer, **READ_ERRORS})
    def get(self, request, pk: int, vid: int):
        version = get_model_version_for_user(request.user, pk, vid)
        return Response(self.get_serializer(version).data)


# --- downloads -------------------------------------------------------------------------------

class BinaryErrorRenderer(JSONRenderer):
    """Lets a client that asks for the file's bytes (Accept: application/octet-stream) be served;
    if the answer is an error instead, its body is still the JSON error."""

    media_type = "application/octet-stream"
    format = "bin"


class FileErased(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_code = "erased"

    def __init__(self, version):
        super().__init__(
            f"This dataset version was erased on {version.erased_at:%Y-%m-%d}: its file was destroyed and cannot be "
            f"downloaded. Only its record (name, size, SHA-256) is kept."
        )


def _download(request, version, field_file, file_name: str, sha256: str):
    try:
        handle = field_file.open("rb")
    except EncryptedStorageError as exc:
        logger.error("Stored file %s failed its integrity check: %s", field_file.name, exc)
        raise StoredFileFailedIntegrity() from None
    except OSError:
        logger.error("Stored file %s of %s %s is missing", field_file.name, version._meta.label, version.pk)
        raise exceptions.NotFound("The stored file is missing; ask an administrator to restore it.") from None
    try:
        audit_record(actor=request.user, action=AuditAction.DOWNLOAD, obj=version,
                     changes={"file": file_name, "sha256": sha256, "via": "api"})
    except BaseException:
        handle.close()
        raise
    response = FileResponse(handle, as_attachment=True, filename=file_name,
                            content_type="application/octet-stream")
    response["X-Checksum-SHA256"] = sha256
    return response


DOWNLOAD_RESPONSES = {
    (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY,
                                                       description="The file, as uploaded."),
    **READ_ERRORS,
}


class ModelVersionArtifact(ApiView):
    renderer_classes = [JSONRenderer, BinaryErrorRenderer]

    @extend_schema(tags=["models"], summary="Download a version's artifact (recorded in the audit trail)",
                   responses=DOWNLOAD_RESPONSES)
    def get(self, request, pk: int, vid: int):
        version = get_model_version_for_user(request.user, pk, vid)
        return _download(request, version, version.artifact, version.artifact_name, version.artifact_sha256)


# --- datasets --------------------------------------------------------------------------------

def _datasets_for(user):
    return (
        visible_datasets(user).select_related("owner", "business_unit")
        .annotate(version_count=Count("versions")).order_by("name", "pk")
    )


class DatasetList(ApiView, generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated, CanRegisterInventory]
    filter_backends = [DjangoFilterBackend]
    filterset_class = DatasetFilter
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_queryset(self):
        return _datasets_for(self.request.user)

    def get_serializer_class(self):
        return DatasetWriteSerializer if self.request.method == "POST" else DatasetSerializer

    @extend_schema(tags=["datasets"], summary="List the datasets you can see",
                   responses={200: DatasetSerializer(many=True), **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(tags=["datasets"], summary="Register a dataset", request=DatasetWriteSerializer,
                   responses={201: DatasetDetailSerializer, **WRITE_ERRORS})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dataset = inventory.dataset_register(actor=request.user, **serializer.validated_data)
        data = DatasetDetailSerializer(dataset, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["url"]})


class DatasetDetail(ApiView):
    http_method_names = ["get", "patch", "head", "options"]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_serializer_class(self):
        return DatasetWriteSerializer if self.request.method == "PATCH" else DatasetDetailSerializer

    @extend_schema(tags=["datasets"], summary="One dataset",
                   responses={200: DatasetDetailSerializer, **READ_ERRORS})
    def get(self, request, pk: int):
        dataset = get_dataset_for_user(request.user, pk)
        return Response(DatasetDetailSerializer(dataset, context=self.get_serializer_context()).data)

    @extend_schema(tags=["datasets"], summary="Change a dataset (only the fields sent)",
                   request=DatasetWriteSerializer(partial=True),
                   responses={200: DatasetDetailSerializer, **WRITE_ERRORS})
    def patch(self, request, pk: int):
        dataset = get_dataset_for_user(request.user, pk, write=True)
        serializer = DatasetWriteSerializer(data=request.data, partial=True,
                                            context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        dataset = inventory.dataset_update(actor=request.user, dataset=dataset, **serializer.validated_data)
        return Response(DatasetDetailSerializer(dataset, context=self.get_serializer_context()).data)


class DatasetVersionList(ApiView, generics.ListCreateAPIView):
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        dataset = get_dataset_for_user(self.request.user, self.kwargs["pk"])
        return dataset.versions.select_related("created_by")

    def get_serializer_class(self):
        return DatasetVersionCreateSerializer if self.request.method == "POST" else DatasetVersionSerializer

    @extend_schema(tags=["datasets"], summary="List a dataset's versions",
                   responses={200: DatasetVersionSerializer(many=True), **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(tags=["datasets"], summary="Upload a new version of a dataset (multipart)",
                   request={"multipart/form-data": DatasetVersionCreateSerializer},
                   responses={201: DatasetVersionSerializer, **WRITE_ERRORS})
    def post(self, request, pk: int):
        dataset = get_dataset_for_user(request.user, pk, write=True)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = inventory.dataset_version_create(actor=request.user, dataset=dataset,
                                                   **serializer.validated_data)
        data = DatasetVersionSerializer(version, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["url"]})


class DatasetVersionDetail(ApiView):
    serializer_class = DatasetVersionSerializer

    @extend_schema(tags=["datasets"], summary="One dataset version",
                   responses={200: DatasetVersionSerializer, **READ_ERRORS})
    def get(self, request, pk: int, vid: int):
        version = get_dataset_version_for_user(request.user, pk, vid)
        return Response(self.get_serializer(version).data)


class DatasetVersionFile(ApiView):
    renderer_classes = [JSONRenderer, BinaryErrorRenderer]

    @extend_schema(tags=["datasets"], summary="Download a version's data file (recorded in the audit trail)",
                   responses={**DOWNLOAD_RESPONSES, 410: OpenApiResponse(
                       ErrorSerializer, description="The version was erased: its file is gone for good.")})
    def get(self, request, pk: int, vid: int):
        version = get_dataset_version_for_user(request.user, pk, vid)
        if version.erased_at is not None:
            raise FileErased(version)
        return _download(request, version, version.file, version.file_name, version.sha256)


def not_found(request, *args, **kwargs):
    """Unknown paths under /api/ answer in the API's error shape, not with an HTML page."""
    message = "Not found." if request.path.endswith("/") else "Not found. API paths end with a slash."
    return JsonResponse({"error": message, "fields": {}}, status=404)
