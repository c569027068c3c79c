"""Evidence packs through the REST API, for pipelines and schedulers: ask for a pack, follow it,
download it. The same rules as the pages: packs are for auditors, risk managers and admins (403 for
other roles), a scope you cannot see is 404, and every download lands in the audit trail.
"""

from __future__ import annotations

import logging

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from governance.api.views import READ_ERRORS, WRITE_ERRORS, ApiView, BinaryErrorRenderer, ErrorSerializer
from governance.models import EvidencePack, PackStatus
from governance.packs.scope import check_period, get_pack_for_user, may_work_with_packs, parse_scope, visible_packs
from governance.packs.services import pack_download_record, pack_request

logger = logging.getLogger(__name__)


class PackRequestSerializer(serializers.Serializer):
    scope = serializers.CharField(max_length=300, help_text="model:ID, framework:CODE@unit:ID, framework:CODE "
                                  "(the whole organisation) or org")
    period_start = serializers.DateField(help_text="First day of the period (YYYY-MM-DD).")
    period_end = serializers.DateField(help_text="Last day of the period (YYYY-MM-DD).")

    def validate_scope(self, value: str):
        try:
            return parse_scope(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class EvidencePackSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True, default="")
    download = serializers.SerializerMethodField()

    class Meta:
        model = EvidencePack
        fields = ["pack_id", "scope_kind", "scope_key", "scope_label", "period_start", "period_end", "status",
                  "progress", "progress_message", "error", "size", "sha256", "page_count", "item_count",
                  "signer_subject", "signer_fingerprint", "previous_sha256", "requested_by", "queued_at",
                  "finished_at", "download"]
        read_only_fields = fields

    def get_download(self, pack) -> str | None:
        if pack.status != PackStatus.SUCCEEDED:
            return None
        return f"/api/packs/{pack.pack_id}/download/"


class PackNotReady(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This pack is not ready yet."
    default_code = "not_ready"


def _require_pack_role(user) -> None:
    if not may_work_with_packs(user):
        raise exceptions.PermissionDenied("Evidence packs are for auditors, risk managers and admins.")


@extend_schema(tags=["evidence packs"])
class PackList(ApiView, generics.ListAPIView):
    parser_classes = [JSONParser]

    def get_serializer_class(self):
        return PackRequestSerializer if self.request.method == "POST" else EvidencePackSerializer

    def get_queryset(self):
        _require_pack_role(self.request.user)
        packs = visible_packs(self.request.user).select_related("requested_by").order_by("-queued_at", "-id")
        scope = self.request.query_params.get("scope")
        return packs.filter(scope_key=scope) if scope else packs

    @extend_schema(summary="Evidence packs of the scopes you may see, newest first",
                   parameters=[OpenApiParameter("scope", str, description="Only packs of this scope key, e.g. "
                                                "model:12")],
                   responses={200: EvidencePackSerializer(many=True), **READ_ERRORS,
                              403: OpenApiResponse(ErrorSerializer, description="Your role has no packs.")})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Ask for a signed evidence pack (built on a worker)",
                   request=PackRequestSerializer, responses={202: EvidencePackSerializer, **WRITE_ERRORS})
    def post(self, request):
        _require_pack_role(request.user)
        data = PackRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        start, end = data.validated_data["period_start"], data.validated_data["period_end"]
        check_period(start, end)
        pack = pack_request(actor=request.user, scope=data.validated_data["scope"], period_start=start,
                            period_end=end)
        return Response(EvidencePackSerializer(pack).data, status=status.HTTP_202_ACCEPTED)


class PackDetail(ApiView):
    serializer_class = EvidencePackSerializer

    @extend_schema(tags=["evidence packs"], summary="An evidence pack: status, progress, hash and signer",
                   responses={200: EvidencePackSerializer, **READ_ERRORS})
    def get(self, request, pack_id):
        return Response(self.get_serializer(get_pack_for_user(request.user, pack_id)).data)


class PackDownload(ApiView):
    renderer_classes = [JSONRenderer, BinaryErrorRenderer]

    @extend_schema(tags=["evidence packs"], summary="Download a signed pack (recorded in the audit trail)",
                   responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY,
                                                                       description="The signed PDF."),
                              **READ_ERRORS,
                              409: OpenApiResponse(ErrorSerializer, description="Not ready yet.")})
    def get(self, request, pack_id):
        from django.http import FileResponse

        pack = get_pack_for_user(request.user, pack_id)
        if pack.status != PackStatus.SUCCEEDED or not pack.file:
            raise PackNotReady()
        try:
            handle = pack.file.storage.open(pack.file.name, "rb")
        except OSError as exc:  # missing, or refused by the encrypted storage's integrity check
            logger.error("Stored evidence pack %s could not be opened: %s", pack.pack_id, exc)
            raise exceptions.APIException("The stored pack failed its integrity check and is not served.") from None
        try:
            pack_download_record(actor=request.user, pack=pack)
        except BaseException:
            handle.close()
            raise
        response = FileResponse(handle, as_attachment=True, filename=pack.file_name, content_type="application/pdf")
        response["X-Checksum-SHA256"] = pack.sha256
        return response
