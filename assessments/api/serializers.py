"""API shapes for evaluation runs. A run's full JSON is built by ``assessments.evaluations.reports``."""

from __future__ import annotations

from rest_framework import serializers

from assessments.models import EvaluationRun, RunKind


class RunSummarySerializer(serializers.ModelSerializer):
    """A run in a list: enough to poll it and to see how it ended."""

    url = serializers.SerializerMethodField()
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    dataset_version = serializers.IntegerField(source="dataset_version_id", allow_null=True)
    started_by = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta:
        model = EvaluationRun
        fields = ["id", "url", "kind", "status", "progress", "progress_message", "model_version", "dataset_version",
                  "trigger", "started_by", "queued_at", "started_at", "finished_at", "attempts", "error", "counts"]

    def get_url(self, run) -> str:
        request = self.context.get("request")
        path = f"/api/runs/{run.pk}/"
        return request.build_absolute_uri(path) if request else path

    def get_started_by(self, run) -> str | None:
        return run.started_by.get_username() if run.started_by_id else None

    def get_counts(self, run) -> dict:
        return run.summary.get("counts", {})


class EvaluationOptionsSerializer(serializers.Serializer):
    """Fairness and robustness runs: the evaluation data and its columns (checked again by the service)."""

    dataset_version = serializers.IntegerField(min_value=1, help_text="the evaluation dataset version")
    target = serializers.CharField(max_length=200, help_text="the column with the true outcome")
    sensitive = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=4,
                                      help_text="fairness: the sensitive columns (groups are also intersected)")
    prediction = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                       help_text="fairness: a column with the model's predictions (required for "
                                                 "models Warden never executes, such as pickles)")
    task = serializers.ChoiceField(choices=["classification", "regression"], required=False)
    min_group_size = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, required=False,
                                    help_text="robustness: the random seed (the same seed repeats a run exactly)")
    sample_size = serializers.IntegerField(min_value=100, max_value=10_000, required=False)


class RunStartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[RunKind.ARTIFACT_SCAN, RunKind.DATASET_SCAN, RunKind.FAIRNESS,
                                            RunKind.ROBUSTNESS])
    model_version = serializers.IntegerField(min_value=1, required=False)
    dataset_version = serializers.IntegerField(min_value=1, required=False)
    label_column = serializers.CharField(max_length=200, required=False,
                                         help_text="dataset scans: the column holding the labels")
    options = EvaluationOptionsSerializer(required=False, help_text="fairness and robustness runs only")

    def validate(self, data):
        if ("model_version" in data) == ("dataset_version" in data):
            raise serializers.ValidationError("Name exactly one of model_version or dataset_version.")
        evaluation = data["kind"] in (RunKind.FAIRNESS, RunKind.ROBUSTNESS)
        if evaluation and "options" not in data:
            raise serializers.ValidationError({"options": ["Fairness and robustness runs need options: the "
                                                           "evaluation dataset version and its columns."]})
        if not evaluation and "options" in data:
            raise serializers.ValidationError({"options": ["Only fairness and robustness runs take options."]})
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
        return data
