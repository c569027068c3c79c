"""The inventory: ML models and datasets, their versions and the lineage between them."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from guardian.models import UserObjectPermissionBase

from governance.models.org import BusinessUnit


class RiskTier(models.TextChoices):
    """EU AI Act risk categories."""

    PROHIBITED = "prohibited", "Prohibited"
    HIGH = "high", "High"
    LIMITED = "limited", "Limited"
    MINIMAL = "minimal", "Minimal"


class LifecycleStage(models.TextChoices):
    IDEA = "idea", "Idea"
    DEVELOPMENT = "development", "Development"
    VALIDATION = "validation", "Validation"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"
    RANKING = "ranking", "Ranking / recommendation"
    CLUSTERING = "clustering", "Clustering"
    GENERATION = "generation", "Generative (text, image, audio)"
    DETECTION = "detection", "Detection / segmentation"
    FORECASTING = "forecasting", "Forecasting"
    OTHER = "other", "Other"


class DataCategories(models.Model):
    """What kinds of regulated data a model or dataset touches (drives GDPR, HIPAA and PCI DSS scope)."""

    processes_personal_data = models.BooleanField("personal data", default=False)
    processes_health_data = models.BooleanField("special category / health data (PHI)", default=False)
    processes_cardholder_data = models.BooleanField("cardholder data", default=False)

    class Meta:
        abstract = True

    @property
    def data_category_labels(self) -> list[str]:
        labels = []
        if self.processes_personal_data:
            labels.append("Personal data")
        if self.processes_health_data:
            labels.append("Health data (PHI)")
        if self.processes_cardholder_data:
            labels.append("Cardholder data")
        return labels


class MLModel(DataCategories):
    name = models.CharField(max_length=120)
    purpose = models.TextField("purpose and intended use")
    limitations = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_models")
    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.PROTECT, related_name="models")
    risk_tier = models.CharField(max_length=12, choices=RiskTier.choices, default=RiskTier.MINIMAL)
    lifecycle_stage = models.CharField(
        max_length=12, choices=LifecycleStage.choices, default=LifecycleStage.DEVELOPMENT
    )
    task_type = models.CharField(max_length=16, choices=TaskType.choices, default=TaskType.CLASSIFICATION)
    framework = models.CharField("ML framework", max_length=60, blank=True)
    deployment_context = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "ML model"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="unique_model_name_ci",
                violation_error_message="A model with this name already exists.",
            ),
        ]
        indexes = [
            models.Index(fields=["business_unit", "name"]),
            models.Index(fields=["risk_tier"]),
            models.Index(fields=["lifecycle_stage"]),
            models.Index(fields=["updated_at"]),
        ]

    def __str__(self) -> str:
        return self.name


class MLModelUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key grants (faster than guardian's generic table): one model for one user."""

    content_object = models.ForeignKey(MLModel, on_delete=models.CASCADE)


class ArtifactFormat(models.TextChoices):
    PICKLE = "pickle", "Pickle / joblib"
    PYTORCH = "pytorch", "PyTorch (zip)"
    SAFETENSORS = "safetensors", "safetensors"
    ONNX = "onnx", "ONNX"
    SKOPS = "skops", "skops"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    DEPLOYED = "deployed", "Deployed"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=60)
    artifact = models.FileField(max_length=255)
    artifact_name = models.CharField("original file name", max_length=255)
    artifact_format = models.CharField(max_length=12, choices=ArtifactFormat.choices)
    artifact_size = models.BigIntegerField()
    artifact_sha256 = models.CharField(max_length=64, db_index=True)
    training_datasets = models.ManyToManyField("DatasetVersion", blank=True, related_name="trained_versions")
    evaluation_datasets = models.ManyToManyField(
        "DatasetVersion", blank=True, related_name="evaluated_versions"
    )
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    # Changed only by assessments.approvals.services (conditional UPDATEs); the history is its LifecycleEvents.
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Which review the version is in (sign-offs belong to one review; a resubmission starts the next).
    review_cycle = models.PositiveIntegerField(default=0)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="unique_model_version")]

    def __str__(self) -> str:
        return f"{self.model.name} {self.version}"


class LegalBasis(models.TextChoices):
    """GDPR Art. 6(1) lawful bases, plus 'not applicable' for data with no personal data."""

    NOT_APPLICABLE = "n/a", "Not applicable (no personal data)"
    CONSENT = "consent", "Consent (Art. 6(1)(a))"
    CONTRACT = "contract", "Contract (Art. 6(1)(b))"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art. 6(1)(c))"
    VITAL_INTERESTS = "vital_interests", "Vital interests (Art. 6(1)(d))"
    PUBLIC_TASK = "public_task", "Public task (Art. 6(1)(e))"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests (Art. 6(1)(f))"


class Dataset(DataCategories):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_datasets")
    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.PROTECT, related_name="datasets")
    source = models.CharField(max_length=200, blank=True)
    provenance = models.TextField(blank=True, help_text="Where the data came from and how it was collected.")
    licence = models.CharField(max_length=120, blank=True)
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long versions may be kept. Empty means no limit is set."
    )
    legal_basis = models.CharField(max_length=24, choices=LegalBasis.choices, default=LegalBasis.NOT_APPLICABLE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["business_unit", "name"]), models.Index(fields=["updated_at"])]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="unique_dataset_name_ci",
                violation_error_message="A dataset with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DatasetUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Dataset, on_delete=models.CASCADE)


class DatasetFormat(models.TextChoices):
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class ProfileStatus(models.TextChoices):
    PENDING = "pending", "Profiling"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DatasetVersion(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=60)
    file = models.FileField(max_length=255)
    file_name = models.CharField("original file name", max_length=255)
    file_format = models.CharField(max_length=8, choices=DatasetFormat.choices)
    file_size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    # Filled by the profiling task (row count and full schema need the whole file).
    row_count = models.BigIntegerField(null=True, blank=True)
    column_count = models.PositiveIntegerField(null=True, blank=True)
    schema = models.JSONField(default=list, blank=True)
    sensitive_columns = models.JSONField(default=list, blank=True)
    profile_status = models.CharField(
        max_length=8, choices=ProfileStatus.choices, default=ProfileStatus.PENDING
    )
    profile_error = models.CharField(max_length=500, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set only by governance.retention.services.dataset_version_erase: the file was destroyed and this row
    # stays as a tombstone (name, size, SHA-256, schema) so that lineage and the audit trail still make sense.
    erased_at = models.DateTimeField(null=True, blank=True, db_index=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    erasure_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="unique_dataset_version")]

    def __str__(self) -> str:
        return f"{self.dataset.name} {self.version}"

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.schema]

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None
