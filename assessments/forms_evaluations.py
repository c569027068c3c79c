"""The form that starts a fairness or robustness run on a model version.

It offers what fits the data chosen (the columns of the evaluation dataset version, once profiled)
and parses input into options; ``model_evaluation_options.clean_model_evaluation_options`` is the
rule book (the API goes through it too), and its errors are put back on the matching fields.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from assessments.evaluations.model_evaluation_options import (
    DEFAULT_SAMPLE_SIZE,
    MIN_GROUP_SIZES,
    SAMPLE_SIZES,
    evaluation_datasets_for,
    is_executable,
)
from assessments.models import RunKind
from governance.models import MLModel

KIND_CHOICES = [
    (RunKind.FAIRNESS, "Fairness: compare outcomes and error rates between groups of people"),
    (RunKind.ROBUSTNESS, "Robustness: measure how noise and a black-box attack change the answers"),
]
# Names that usually hold a protected characteristic: pre-ticked when the data has them.
LIKELY_SENSITIVE = {"sex", "gender", "age_band", "age_group", "race", "ethnicity", "religion", "disability",
                    "marital_status", "nationality"}
LIKELY_TARGET = ("approved", "label", "target", "outcome", "y", "class")


class ModelEvaluationForm(forms.Form):
    kind = forms.ChoiceField(label="What to evaluate", choices=KIND_CHOICES, widget=forms.RadioSelect)
    version = forms.TypedChoiceField(label="Model version", coerce=int)
    dataset_version = forms.TypedChoiceField(
        label="Evaluation data", coerce=int,
        help_text="Held-out data the model was not trained on, with the true outcome of each row.")
    target = forms.CharField(label="Outcome column", max_length=200,
                             help_text="The true outcome (for example whether the loan was repaid).")
    sensitive = forms.MultipleChoiceField(
        label="Sensitive columns", required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Groups are compared on each column alone and on their intersection (at most 4).")
    prediction = forms.CharField(
        label="Predictions column", max_length=200, required=False,
        help_text="The model's own decisions, if the data holds them. Leave empty to compute them with the "
                  "model (skops and ONNX models only).")
    min_group_size = forms.TypedChoiceField(
        label="Smallest group compared", coerce=int, initial=30, required=False, empty_value=None,
        choices=[(n, f"{n:,} rows") for n in MIN_GROUP_SIZES],
        help_text="Smaller groups are listed with their figures but left out of the comparisons.")
    # Only the settings of the chosen kind are shown, so none of them is required.
    seed = forms.IntegerField(label="Random seed", min_value=0, max_value=2**32 - 1, initial=0, required=False,
                              help_text="The same seed on the same model and data gives the same figures.")
    sample_size = forms.TypedChoiceField(
        label="Rows sampled", coerce=int, initial=DEFAULT_SAMPLE_SIZE, required=False, empty_value=None,
        choices=[(n, f"{n:,} rows") for n in SAMPLE_SIZES])

    def __init__(self, *args, model: MLModel, user, refresh_url: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        versions = list(model.versions.order_by("-created_at", "-id"))
        self.versions = {v.pk: v for v in versions}
        self.fields["version"].choices = [
            (v.pk, f"{v.version} ({v.get_artifact_format_display()}{'' if is_executable(v) else ', never executed'})")
            for v in versions]
        chosen_version = self.versions.get(self._value("version", int)) or (versions[0] if versions else None)
        self.datasets = {dv.pk: dv for dv in evaluation_datasets_for(
            user=user, version=chosen_version)} if chosen_version else {}
        linked = set(chosen_version.evaluation_datasets.values_list("pk", flat=True)) if chosen_version else set()
        self.fields["dataset_version"].choices = [
            (dv.pk, f"{dv.dataset.name} {dv.version}{' (evaluation data of this version)' if dv.pk in linked else ''}")
            for dv in self.datasets.values()]
        self.dataset = self.datasets.get(self._value("dataset_version", int)) or next(iter(self.datasets.values()),
                                                                                     None)
        self.columns = self.dataset.column_names if self.dataset else []
        self.kind = self._value("kind", str) or RunKind.FAIRNESS
        if self.columns:
            column_choices = [(c, c) for c in self.columns]
            self.fields["target"] = forms.ChoiceField(label="Outcome column", choices=column_choices,
                                                      help_text=self.fields["target"].help_text)
            self.fields["prediction"] = forms.ChoiceField(
                label="Predictions column", required=False, help_text=self.fields["prediction"].help_text,
                choices=[("", "None: compute them with the model")] + column_choices)
            self.fields["sensitive"].choices = column_choices
            self.initial.setdefault("target", next((c for c in LIKELY_TARGET if c in self.columns), None))
            self.initial.setdefault("sensitive", [c for c in self.columns if c.lower() in LIKELY_SENSITIVE])
        else:
            # Not profiled yet: names are typed, and the run checks them against the data.
            self.fields["sensitive"] = forms.CharField(
                label="Sensitive columns", required=False, help_text="Comma-separated column names (at most 4).")
        if chosen_version is not None:
            self.initial.setdefault("version", chosen_version.pk)
        if self.dataset is not None:
            self.initial.setdefault("dataset_version", self.dataset.pk)
        self.initial.setdefault("kind", self.kind)
        if refresh_url:
            # Choosing another kind, version or data re-renders the form with the fitting columns (htmx).
            for name in ("kind", "version", "dataset_version"):
                self.fields[name].widget.attrs.update({
                    "hx-get": refresh_url, "hx-trigger": "change", "hx-target": "#evaluation-form",
                    "hx-swap": "outerHTML",
                    # Every field but the CSRF token, which must not travel in a URL.
                    "hx-include": "#evaluation-form select, #evaluation-form input:not([type=hidden])",
                })

    def _value(self, name: str, cast):
        source = self.data if self.is_bound else self.initial
        raw = source.get(name)
        try:
            return cast(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            return None

    def clean_sensitive(self):
        value = self.cleaned_data["sensitive"]
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def version_object(self):
        return self.versions.get(self.cleaned_data.get("version"))

    def options(self) -> dict:
        data = self.cleaned_data
        options = {"dataset_version": data.get("dataset_version"), "target": data.get("target")}
        if data.get("kind") == RunKind.FAIRNESS:
            options.update(sensitive=data.get("sensitive") or [], prediction=data.get("prediction") or None,
                           min_group_size=data.get("min_group_size"))
        else:
            options.update(seed=data.get("seed") or 0, sample_size=data.get("sample_size"))
        return options

    def add_service_errors(self, error: ValidationError) -> None:
        """Put the rule book's errors on the fields they name (``model_version`` is the version field)."""
        for field, messages in error.message_dict.items():
            name = "version" if field == "model_version" else field
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
