"""De-identified copies through the REST API, for pipelines: ask for a copy, then follow the job.

The same service as the page, so the same checks: 404 for a version you cannot see, 403 when you may
not add versions, 400 with the column named for a bad rule, 410 for an erased version.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from governance import access
from governance.api.views import READ_ERRORS, WRITE_ERRORS, ApiView, ErrorSerializer
from governance.deidentify import core, services
from governance.models.data_protection import DeidentificationJob


class ColumnRuleSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(core.ACTIONS))
    param = serializers.IntegerField(required=False, allow_null=True,
                                     help_text="Characters kept (mask), band width (band) or prefix length (prefix).")


class DeidentifyRequestSerializer(serializers.Serializer):
    new_version = serializers.CharField(max_length=60, help_text="Label of the new version of the same dataset.")
    rules = serializers.DictField(child=ColumnRuleSerializer(), help_text="Column name → action; columns left "
                                  "out are kept as they are.")
    quasi_identifiers = serializers.ListField(child=serializers.CharField(max_length=200), required=False,
                                              default=list, max_length=core.MAX_QUASI_IDENTIFIERS,
                                              help_text="Columns whose combination k-anonymity is counted over.")


class DeidentificationJobSerializer(serializers.ModelSerializer):
    source_version = serializers.IntegerField(source="source_version_id", read_only=True)
    result_version = serializers.IntegerField(source="result_version_id", read_only=True, allow_null=True)
    dataset = serializers.IntegerField(source="source_version.dataset_id", read_only=True)
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)

    class Meta:
        model = DeidentificationJob
        fields = ["id", "dataset", "source_version", "new_version", "rules", "quasi_identifiers", "status",
                  "progress", "message", "error", "k_anonymity", "summary", "result_version", "created_by",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class VersionErased(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This dataset version was erased: there is nothing left to copy."
    default_code = "erased"


class DeidentifyCreate(ApiView):
    serializer_class = DeidentifyRequestSerializer
    parser_classes = [JSONParser]

    @extend_schema(tags=["datasets"], summary="Make a de-identified copy of a dataset version (queued)",
                   request=DeidentifyRequestSerializer,
                   responses={202: DeidentificationJobSerializer, **WRITE_ERRORS,
                              410: OpenApiResponse(ErrorSerializer, description="The version was erased.")})
    def post(self, request, pk: int, vid: int):
        version = access.get_dataset_version_for_user(request.user, pk, vid)
        if version.erased_at is not None:
            raise VersionErased()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        rules = {column: {"action": rule["action"], "param": rule.get("param")}
                 for column, rule in data.validated_data["rules"].items()}
        try:
            job = services.deidentify_request(actor=request.user, version=version,
                                              new_version=data.validated_data["new_version"], rules=rules,
                                              quasi_identifiers=data.validated_data["quasi_identifiers"])
        except ValidationError as error:
            if getattr(error, "code", None) == "erased":
                raise VersionErased() from None
            raise
        return Response(DeidentificationJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class DeidentifyJobDetail(ApiView):
    serializer_class = DeidentificationJobSerializer

    @extend_schema(tags=["datasets"], summary="A de-identification job: status, k-anonymity, the new version",
                   responses={200: DeidentificationJobSerializer, **READ_ERRORS})
    def get(self, request, job_id: int):
        job = DeidentificationJob.objects.select_related("source_version", "created_by").filter(pk=job_id).first()
        if job is None or not access.visible_datasets(request.user).filter(pk=job.source_version.dataset_id).exists():
            raise Http404("No such de-identification job")
        return Response(self.get_serializer(job).data)
