"""Monitoring under /api/monitoring/ for serving systems (token auth).

* ``POST /api/monitoring/versions/{id}/windows/`` record a window (201; the same idempotency key and
  report again → 200 with the window recorded the first time); ``GET`` the version's windows, newest first;
* ``POST /api/monitoring/windows/{id}/labels/`` ground truth for a window that was recorded without it.

400 names every bad field (``fields`` by JSON path); 404 for a version you may not see or that does
not exist; 403 when you may see but not change the model; 409 for a window out of order or
overlapping, a reused key with another report, labels sent twice with different figures, or a
version that is not deployed.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from assessments.models import MonitoringWindow
from assessments.monitoring import services
from assessments.monitoring.validation import ReportError, parse_labels, parse_report
from governance.access import can_change_model, visible_models
from governance.api.authentication import API_AUTHENTICATION
from governance.api.views import WRITE_ERRORS, ErrorSerializer
from governance.models import ModelVersion

CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="Out of order, overlapping, a reused key, labels "
                                                               "already recorded, or a version not deployed.")}
WINDOW = OpenApiResponse(OpenApiTypes.OBJECT, description="The window as recorded, with the drift and fairness "
                                                          "Warden computed and the alerts it raised.")


def window_json(window: MonitoringWindow) -> dict:
    return {
        "id": window.pk, "model_version": window.model_version_id, "idempotency_key": window.idempotency_key,
        "window_start": window.window_start.isoformat(), "window_end": window.window_end.isoformat(),
        "request_count": window.request_count, "error_count": window.error_count,
        "predictions": window.predictions, "features": window.features,
        "labels": None if window.labels_received_at is None else {
            "labelled_count": window.labelled_count, "accuracy": window.accuracy, "groups": window.groups},
        "drift": window.drift, "max_psi": window.max_psi, "drift_reference": window.drift_reference,
        "fairness": window.fairness, "min_selection_ratio": window.min_selection_ratio,
        "alerts": [{"id": a.pk, "kind": a.kind, "metric": a.metric, "value": a.value, "threshold": a.threshold,
                    "message": a.message, "risk": a.risk_id} for a in window.alerts.all()],
        "received_at": window.received_at.isoformat(),
    }


def _error(message: str, code: int, fields: dict | None = None) -> Response:
    return Response({"error": message, "fields": fields or {}}, status=code)


class MonitoringApiView(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]

    def version(self, vid: int, *, write: bool) -> ModelVersion:
        version = (ModelVersion.objects.filter(pk=vid, model__in=visible_models(self.request.user))
                   .select_related("model").first())
        if version is None:
            raise Http404("No such model version")
        if write and not can_change_model(self.request.user, version.model):
            raise PermissionDenied("You may see this model but not report for it.")
        return version


class WindowList(MonitoringApiView):
    @extend_schema(tags=["monitoring"], summary="Windows reported for a version, newest first (at most 500)",
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT), **{k: WRITE_ERRORS[k] for k in (401, 404)}})
    def get(self, request, vid: int):
        version = self.version(vid, write=False)
        windows = (MonitoringWindow.objects.filter(model_version=version).prefetch_related("alerts")
                   .order_by("-window_start")[:500])
        return Response({"results": [window_json(w) for w in windows]})

    @extend_schema(tags=["monitoring"], summary="Report one monitoring window of a deployed version",
                   request=OpenApiTypes.OBJECT, responses={201: WINDOW, 200: WINDOW, **WRITE_ERRORS, **CONFLICT})
    def post(self, request, vid: int):
        version = self.version(vid, write=True)
        try:
            report = parse_report(request.data)
        except ReportError as exc:
            return _error("The report is not valid; nothing was recorded.", 400, exc.problems)
        try:
            window, created = services.window_report(actor=request.user, version=version, report=report)
        except services.Conflict as exc:
            return _error(str(exc), 409)
        return Response(window_json(window), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class WindowLabels(MonitoringApiView):
    @extend_schema(tags=["monitoring"], summary="Add the ground truth (accuracy, group selection) to a window",
                   request=OpenApiTypes.OBJECT, responses={200: WINDOW, **WRITE_ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        window = MonitoringWindow.objects.filter(pk=pk).first()
        if window is None:
            raise Http404("No such window")
        self.version(window.model_version_id, write=True)
        try:
            labels = parse_labels(request.data)
        except ReportError as exc:
            return _error("The labels are not valid; nothing was recorded.", 400, exc.problems)
        try:
            window, _ = services.window_labels(actor=request.user, window=window, labels=labels)
        except services.Conflict as exc:
            return _error(str(exc), 409)
        return Response(window_json(window))
