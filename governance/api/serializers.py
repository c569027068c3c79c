"""API serializers: strict parsing of what clients send, flat shapes of what they get back.

Input serializers only parse and check types; every write then goes through the inventory
services, which hold the business rules. Fields a client may not write are refused rather than
silently dropped, so a typo in a CI script fails loudly instead of doing half of what was meant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from governance.access import (
    Capability,
    access_profile,
    can_change_dataset,
    can_change_model,
    visible_datasets,
)
from governance.models import BusinessUnit, Dataset, DatasetVersion, MLModel, ModelVersion
from governance.models.inventory import LegalBasis, LifecycleStage, RiskTier, TaskType
from governance.services.inventory import clean_metrics

LONG_TEXT = 10_000
MAX_LINEAGE = 200
MAX_SENSITIVE_COLUMNS = 1_000


# --- strict scalar fields ------------------------------------------------------------------------

class StrictCharField(serializers.CharField):
    """Text only: a number, boolean or list where text is expected is an error, not converted."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false (JSON booleans, or those words in a form), never 1, "yes" or "on"."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and data.strip().lower() in {"true", "false"}:
            return data.strip().lower() == "true"
        self.fail("invalid")


class StrictIntegerField(serializers.IntegerField):
    """A whole number: JSON integers or digit strings from a form, never booleans or 1.5 / 1.0."""

    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, str) and not re.fullmatch(r"\s*-?\d{1,18}\s*", data):
            self.fail("invalid")
        return super().to_internal_value(data)


class IdListField(serializers.ListField):
    """Ids, given as a JSON list or as repeated form fields; "3,4" in one form field also works."""

    child = StrictIntegerField(min_value=1)

    def to_internal_value(self, data):
        if isinstance(data, list):
            expanded: list = []
            for item in data:
                if isinstance(item, str):
                    expanded.extend(part for part in item.split(",") if part.strip())
                else:
                    expanded.append(item)
            data = expanded
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "number"},
        "description": "Reported metrics, name to number. In a multipart upload, send it as a JSON string.",
        "example": {"auc": 0.91, "f1": 0.84},
    }
)
class MetricsField(serializers.Field):
    default_error_messages = {"invalid_json": 'Metrics must be a JSON object such as {{"auc": 0.91}}.'}

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except ValueError:
                self.fail("invalid_json")
        try:
            return clean_metrics(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def to_representation(self, value):
        return value


# --- input serializers ---------------------------------------------------------------------------

class RejectUnknownFieldsMixin:
    # The browsable API's forms carry the CSRF token as a field.
    IGNORED_FIELDS = frozenset({"csrfmiddlewaretoken"})

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data.keys()) - writable - self.IGNORED_FIELDS)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def units_visible_to(user):
    """Business units the user holds any role in (or below), or may see inventory in."""
    profile = access_profile(user)
    unit_ids: set[int] = set()
    for ids in profile.unit_ids_by_capability.values():
        unit_ids |= ids
    # Staff hold a role but no inventory capability: their own units are still theirs to see.
    unit_ids |= set(user.role_grants.values_list("business_unit_id", flat=True))
    return BusinessUnit.objects.filter(id__in=unit_ids)


class BusinessUnitField(StrictIntegerField):
    """A business unit by id. Units the user holds no role in are reported as unknown, exactly like
    ids that do not exist, so the API does not reveal the organisation to outsiders. Whether the user
    may create inventory in a unit they can see is the service's decision (403)."""

    default_error_messages = {"unknown": "Unknown business unit."}

    def to_internal_value(self, data):
        unit_id = super().to_internal_value(data)
        unit = units_visible_to(self.context["request"].user).filter(pk=unit_id).first()
        if unit is None:
            self.fail("unknown")
        return unit

    def to_representation(self, value):
        return value.pk


class _InventoryWriteSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    name = StrictCharField(max_length=120)
    business_unit = BusinessUnitField()
    processes_personal_data = StrictBooleanField(required=False)
    processes_health_data = StrictBooleanField(required=False)
    processes_cardholder_data = StrictBooleanField(required=False)


class ModelWriteSerializer(_InventoryWriteSerializer):
    """Registering a model (POST) or changing one (PATCH, every field optional)."""

    purpose = StrictCharField(max_length=LONG_TEXT, help_text="Purpose and intended use.")
    limitations = StrictCharField(max_length=LONG_TEXT, allow_blank=True, required=False)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False,
                                        help_text="EU AI Act risk category.")
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    task_type = serializers.ChoiceField(choices=TaskType.choices, required=False)
    framework = StrictCharField(max_length=60, allow_blank=True, required=False)
    deployment_context = StrictCharField(max_length=LONG_TEXT, allow_blank=True, required=False)


class DatasetWriteSerializer(_InventoryWriteSerializer):
    """Registering a dataset (POST) or changing one (PATCH, every field optional)."""

    description = StrictCharField(max_length=LONG_TEXT, allow_blank=True, required=False)
    source = StrictCharField(max_length=200, allow_blank=True, required=False)
    provenance = StrictCharField(max_length=LONG_TEXT, allow_blank=True, required=False)
    licence = StrictCharField(max_length=120, allow_blank=True, required=False)
    retention_days = StrictIntegerField(min_value=0, max_value=36_500, allow_null=True, required=False,
                                        help_text="How long versions may be kept; null for no limit.")
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices, required=False,
                                          help_text="GDPR Art. 6(1) lawful basis.")


class ModelVersionCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    version = StrictCharField(max_length=60)
    artifact = serializers.FileField(
        help_text="The model file: pickle/joblib, PyTorch, safetensors, ONNX or skops. "
        "Its format is read from its content, never run."
    )
    training_datasets = IdListField(required=False, max_length=MAX_LINEAGE,
                                    help_text="Ids of the dataset versions the model was trained on.")
    evaluation_datasets = IdListField(required=False, max_length=MAX_LINEAGE,
                                      help_text="Ids of the dataset versions it was evaluated on.")
    metrics = MetricsField(required=False)
    notes = StrictCharField(max_length=LONG_TEXT, allow_blank=True, required=False)

    def _dataset_versions(self, ids: list[int]) -> list[DatasetVersion]:
        # Versions of datasets the user cannot see are reported exactly like ids that do not exist.
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        user = self.context["request"].user
        found = {
            version.pk: version
            for version in DatasetVersion.objects.filter(
                pk__in=ids, dataset_id__in=visible_datasets(user).values("pk")
            )
        }
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise serializers.ValidationError(f"Unknown dataset version ids: {', '.join(missing)}.")
        return [found[pk] for pk in ids]

    def validate_training_datasets(self, ids):
        return self._dataset_versions(ids)

    def validate_evaluation_datasets(self, ids):
        return self._dataset_versions(ids)


class DatasetVersionCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    version = StrictCharField(max_length=60)
    file = serializers.FileField(help_text="CSV (UTF-8, with a header row) or Parquet.")
    sensitive_columns = serializers.ListField(
        child=StrictCharField(max_length=200), required=False, max_length=MAX_SENSITIVE_COLUMNS,
        help_text="Names of columns holding sensitive data; each must be a column of the file.",
    )
    notes = StrictCharField(max_length=LONG_TEXT, allow_blank=True, required=False)


# --- output serializers --------------------------------------------------------------------------

def _absolute(serializer, name: str, *args) -> str:
    return reverse(name, args=args, request=serializer.context.get("request"))


class BusinessUnitSerializer(serializers.ModelSerializer):
    can_view_inventory = serializers.SerializerMethodField()
    can_change_inventory = serializers.SerializerMethodField(
        help_text="Whether models and datasets may be registered in this unit."
    )

    class Meta:
        model = BusinessUnit
        fields = ["id", "name", "parent", "description", "can_view_inventory", "can_change_inventory"]
        read_only_fields = fields

    def _can(self, unit, capability) -> bool:
        return unit.pk in access_profile(self.context["request"].user).unit_ids(capability)

    def get_can_view_inventory(self, unit) -> bool:
        return self._can(unit, Capability.VIEW_INVENTORY) or self._can(unit, Capability.CHANGE_INVENTORY)

    def get_can_change_inventory(self, unit) -> bool:
        return self._can(unit, Capability.CHANGE_INVENTORY)


class _InventorySerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    business_unit_name = serializers.CharField(source="business_unit.name", read_only=True)
    data_categories = serializers.ListField(source="data_category_labels", child=serializers.CharField(),
                                            read_only=True)
    version_count = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    versions_url = serializers.SerializerMethodField()

    def get_version_count(self, obj) -> int:
        # Annotated by the views' querysets (one query for the whole page).
        count = getattr(obj, "version_count", None)
        return obj.versions.count() if count is None else count


class MLModelSerializer(_InventorySerializer):
    class Meta:
        model = MLModel
        fields = [
            "id", "name", "purpose", "limitations", "owner", "business_unit", "business_unit_name",
            "risk_tier", "lifecycle_stage", "task_type", "framework", "deployment_context",
            "processes_personal_data", "processes_health_data", "processes_cardholder_data",
            "data_categories", "version_count", "created_at", "updated_at", "url", "versions_url",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return _absolute(self, "api_model_detail", obj.pk)

    def get_versions_url(self, obj) -> str:
        return _absolute(self, "api_model_versions", obj.pk)


class MLModelDetailSerializer(MLModelSerializer):
    can_change = serializers.SerializerMethodField(
        help_text="Whether you may change this model and add versions."
    )

    class Meta(MLModelSerializer.Meta):
        fields = [*MLModelSerializer.Meta.fields, "can_change"]
        read_only_fields = fields

    def get_can_change(self, obj) -> bool:
        return can_change_model(self.context["request"].user, obj)


class DatasetSerializer(_InventorySerializer):
    class Meta:
        model = Dataset
        fields = [
            "id", "name", "description", "owner", "business_unit", "business_unit_name", "source",
            "provenance", "licence", "retention_days", "legal_basis", "processes_personal_data",
            "processes_health_data", "processes_cardholder_data", "data_categories", "version_count",
            "created_at", "updated_at", "url", "versions_url",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return _absolute(self, "api_dataset_detail", obj.pk)

    def get_versions_url(self, obj) -> str:
        return _absolute(self, "api_dataset_versions", obj.pk)


class DatasetDetailSerializer(DatasetSerializer):
    can_change = serializers.SerializerMethodField(
        help_text="Whether you may change this dataset and add versions."
    )

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "can_change"]
        read_only_fields = fields

    def get_can_change(self, obj) -> bool:
        return can_change_dataset(self.context["request"].user, obj)


class ModelVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)
    training_datasets = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Ids of the dataset versions the model was trained on (lineage)."
    )
    evaluation_datasets = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Ids of the dataset versions it was evaluated on (lineage)."
    )
    metrics = MetricsField(read_only=True)
    url = serializers.SerializerMethodField()
    artifact_url = serializers.SerializerMethodField(help_text="Where to download the artifact (audited).")

    class Meta:
        model = ModelVersion
        fields = [
            "id", "model", "version", "status", "artifact_name", "artifact_format", "artifact_size",
            "artifact_sha256", "training_datasets", "evaluation_datasets", "metrics", "notes", "created_by",
            "created_at", "url", "artifact_url",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return _absolute(self, "api_model_version_detail", obj.model_id, obj.pk)

    def get_artifact_url(self, obj) -> str:
        return _absolute(self, "api_model_version_artifact", obj.model_id, obj.pk)


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    dtype = serializers.CharField(
        read_only=True, help_text='A pandas/Arrow type name, or "pending" until profiled.'
    )


class DatasetVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)
    schema = ColumnSerializer(many=True, read_only=True)
    sensitive_columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    url = serializers.SerializerMethodField()
    file_url = serializers.SerializerMethodField(help_text="Where to download the file (audited).")

    class Meta:
        model = DatasetVersion
        fields = [
            "id", "dataset", "version", "file_name", "file_format", "file_size", "sha256", "row_count",
            "column_count", "schema", "sensitive_columns", "profile_status", "profile_error", "notes",
            "created_by", "created_at", "url", "file_url", "erased_at",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return _absolute(self, "api_dataset_version_detail", obj.dataset_id, obj.pk)

    def get_file_url(self, obj) -> str:
        return _absolute(self, "api_dataset_version_file", obj.dataset_id, obj.pk)

