"""API views for evaluation runs. Thin: look up through the access helpers, call one service.

* ``GET  /api/runs/`` runs you can see (filters: kind, status, model, model_version, dataset,
  dataset_version); ``POST /api/runs/`` start a scan on demand;
* ``GET  /api/runs/{id}/`` the run: for an artifact scan, exactly the JSON of ``manage.py
  scan_artifact --format json`` plus a ``run`` key; ``GET /api/runs/{id}/report/?format=json|sarif``
  the tool's document alone;
* ``POST /api/runs/{id}/cancel/`` and ``POST /api/runs/{id}/rerun/``;
* ``POST /api/runs/external/`` submit a result produced elsewhere (``?format=warden|sarif|modelscan|
  fickling``; schema in ``assessments/evaluations/schemas/``); same idempotency key twice → the first run, 200.
"""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from assessments.api.serializers import RunStartSerializer, RunSummarySerializer
from assessments.evaluations import external, reports, runs
from assessments.evaluations.access import get_run_for_user, get_target_for_user, visible_runs
from governance.api.authentication import API_AUTHENTICATION
from governance.api.filters import ApiPagination
from governance.api.views import READ_ERRORS, WRITE_ERRORS

FILTERS = {
    "kind": "kind", "status": "status", "model": "model_version__model_id", "model_version": "model_version_id",
    "dataset": "dataset_version__dataset_id", "dataset_version": "dataset_version_id",
}
RUN_DOCUMENT = OpenApiResponse(OpenApiTypes.OBJECT, description=(
    "The run's document: for a finished artifact scan the scanner's JSON (as `manage.py scan_artifact "
    "--format json` prints it), for a dataset scan the dataset report, for a submitted result the submitted "
    "document; always with a `run` key holding the run's record (status, progress, findings, changes)."))


class FormatIsADocumentFormat(DefaultContentNegotiation):
    """Here ``?format=`` names a document format (json, sarif, modelscan…), not one of DRF's renderers:
    every answer is JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ApiView(generics.GenericAPIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatIsADocumentFormat


def _int_param(request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        from rest_framework.exceptions import ValidationError

        raise ValidationError({name: ["Must be a whole number."]}) from None


@extend_schema(tags=["runs"])
class RunList(ApiView, generics.ListAPIView):
    serializer_class = RunSummarySerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        queryset = visible_runs(self.request.user).select_related("started_by")
        for param, lookup in FILTERS.items():
            value = self.request.query_params.get(param)
            if value:
                queryset = queryset.filter(Q(**{lookup: _int_param(self.request, param) if lookup.endswith("_id")
                                                else value}))
        return queryset.order_by("-queued_at", "-id")

    @extend_schema(summary="List the runs you can see", parameters=[
        OpenApiParameter(name, str, description=f"filter by {name}") for name in FILTERS
    ], responses={200: RunSummarySerializer(many=True), **READ_ERRORS})
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(summary="Start a scan of a model or dataset version, or a fairness or robustness evaluation",
                   request=RunStartSerializer,
                   responses={202: RunSummarySerializer, 200: RunSummarySerializer, **WRITE_ERRORS})
    def post(self, request):
        serializer = RunStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        target = get_target_for_user(request.user, model_version=data.get("model_version"),
                                     dataset_version=data.get("dataset_version"), write=True)
        options = data.get("options") or ({"label_column": data["label_column"]} if data.get("label_column") else None)
        active_before = runs._active_run(data["kind"], target) if data["kind"] in runs.RUN_TASKS else None
        run = runs.run_start(kind=data["kind"], target=target, actor=request.user, options=options)
        body = RunSummarySerializer(run, context={"request": request}).data
        # 202: queued now; 200: the same scan was already queued or running, and that run is returned.
        code = status.HTTP_200_OK if active_before is not None else status.HTTP_202_ACCEPTED
        return Response(body, status=code, headers={"Location": body["url"]})


@extend_schema(tags=["runs"])
class RunDetail(ApiView):
    @extend_schema(summary="One run (its tool's JSON document plus the run record)",
                   responses={200: RUN_DOCUMENT, **READ_ERRORS})
    def get(self, request, pk: int):
        run = get_run_for_user(request.user, pk)
        return Response(reports.run_document(run))


@extend_schema(tags=["runs"])
class RunReport(ApiView):
    @extend_schema(summary="A run's report alone: the tool's JSON, or SARIF 2.1.0",
                   parameters=[OpenApiParameter("format", str, enum=["json", "sarif"])],
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **READ_ERRORS})
    def get(self, request, pk: int):
        run = get_run_for_user(request.user, pk)
        wanted = request.query_params.get("format", "json")
        if wanted == "sarif":
            return Response(reports.run_sarif(run))
        if wanted != "json":
            return Response({"error": "format must be json or sarif.", "fields": {"format": ["json or sarif"]}},
                            status=status.HTTP_400_BAD_REQUEST)
        return Response(reports.run_document(run) if not run.report else run.report)


@extend_schema(tags=["runs"])
class RunCancel(ApiView):
    @extend_schema(summary="Cancel a queued or running run", request=None,
                   responses={200: RunSummarySerializer, **WRITE_ERRORS})
    def post(self, request, pk: int):
        run = get_run_for_user(request.user, pk, write=True)
        run = runs.run_cancel(actor=request.user, run=run)
        return Response(RunSummarySerializer(run, context={"request": request}).data)


@extend_schema(tags=["runs"])
class RunRerun(ApiView):
    @extend_schema(summary="Run the same evaluation again", request=None,
                   responses={202: RunSummarySerializer, **WRITE_ERRORS})
    def post(self, request, pk: int):
        run = get_run_for_user(request.user, pk, write=True)
        new_run = runs.run_rerun(actor=request.user, run=run)
        body = RunSummarySerializer(new_run, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class RawJSONParser(BaseParser):
    """Keeps the body as bytes: the submission is validated against its schema and hashed as sent."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


class AnyJSONParser(RawJSONParser):
    media_type = "*/*"


def _submission_error(exc: external.SubmissionError) -> Response:
    return Response({"error": str(exc), "fields": exc.errors}, status=exc.status)


@extend_schema(tags=["runs"])
class ExternalRunSubmit(ApiView):
    parser_classes = [RawJSONParser, AnyJSONParser]

    @extend_schema(
        summary="Submit a result produced by another tool (JSON schema: run-submission.schema.json)",
        parameters=[
            OpenApiParameter("format", str, enum=list(external.FORMATS),
                             description="warden (default), sarif, modelscan or fickling"),
            OpenApiParameter("model_version", int, description="the target, for sarif/modelscan/fickling"),
            OpenApiParameter("dataset_version", int, description="the target, for sarif/modelscan/fickling"),
            OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER,
                             description="the same key twice records the submission once"),
        ],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={201: RUN_DOCUMENT, 200: RUN_DOCUMENT, 409: READ_ERRORS[404], 413: READ_ERRORS[404],
                   **WRITE_ERRORS},
    )
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > external.MAX_SUBMISSION_BYTES:
            return _submission_error(external.SubmissionError(
                f"The submission is larger than {external.MAX_SUBMISSION_BYTES // (1024 * 1024)} MB.", status=413))
        format_name = request.query_params.get("format", "warden")
        try:
            submission, digest = external.parse_submission(request.data or b"", format_name)
        except external.SubmissionError as exc:
            return _submission_error(exc)
        target_ids = submission.target or {
            name: _int_param(request, name) for name in ("model_version", "dataset_version")
            if request.query_params.get(name)
        }
        if len(target_ids) != 1:
            return _submission_error(external.SubmissionError(
                "Name the target: exactly one of model_version or dataset_version (in the document, or in the "
                "query string for sarif, modelscan and fickling).", {"target": ["exactly one is required"]}))
        target = get_target_for_user(request.user, write=True, **target_ids)
        try:
            run, created = external.external_run_submit(
                actor=request.user, target=target, submission=submission, payload_sha256=digest,
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        except external.SubmissionError as exc:
            return _submission_error(exc)
        body = reports.run_document(run)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                        headers={"Location": request.build_absolute_uri(f"/api/runs/{run.pk}/")})

