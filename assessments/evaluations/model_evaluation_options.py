"""What a fairness or robustness run needs to be told, checked before the run is queued.

Both kinds evaluate a model version on an evaluation dataset version. The options are stored on the
run (``inputs["options"]``) as plain JSON: ids and column names, never objects. Everything a person
can get wrong is caught here, on the form or the API, with a message naming the field; what only the
data can reveal (a column full of NaNs, three label values) is caught by the evaluation itself and
becomes the run's readable failure.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from assessments.models import RunKind
from governance import access
from governance.models import DatasetVersion, ModelVersion
from governance.models.inventory import ArtifactFormat
from governance.retention.guards import erased_reason

# Models in these formats load without running arbitrary code (see model_loading.py); any other is
# never executed, so fairness must work from a predictions column.
EXECUTABLE_FORMATS = (ArtifactFormat.SKOPS, ArtifactFormat.ONNX)
MAX_SENSITIVE_COLUMNS = 4
MAX_COLUMN_NAME = 200
MAX_SEED = 2**32 - 1
SAMPLE_SIZES = (500, 1_000, 2_000, 5_000, 10_000)
DEFAULT_SAMPLE_SIZE = 2_000
MIN_GROUP_SIZES = (1, 10, 30, 50, 100)


def is_executable(version: ModelVersion) -> bool:
    return version.artifact_format in EXECUTABLE_FORMATS


def evaluation_datasets_for(*, user, version: ModelVersion):
    """Dataset versions the user may evaluate this model version on: the ones it names as evaluation
    data first, then every other version of a dataset the user can see."""
    visible = (DatasetVersion.objects.filter(dataset__in=access.visible_datasets(user), erased_at__isnull=True)
               .select_related("dataset"))
    linked = set(version.evaluation_datasets.values_list("pk", flat=True))
    choices = list(visible.order_by("dataset__name", "-created_at", "-id")[:500])
    return sorted(choices, key=lambda dv: (dv.pk not in linked, dv.dataset.name.lower(), -dv.created_at.timestamp()))


def _text(value, field: str, errors: dict, *, required: bool = True) -> str | None:
    if value in (None, ""):
        if required:
            errors.setdefault(field, []).append("This field is required.")
        return None
    if not isinstance(value, str):
        errors.setdefault(field, []).append("Give a column name.")
        return None
    value = value.strip()
    if len(value) > MAX_COLUMN_NAME or any(ord(ch) < 32 for ch in value):
        errors.setdefault(field, []).append("That is not a column name.")
        return None
    return value


def _int(value, field: str, errors: dict, *, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors.setdefault(field, []).append("Give a whole number.")
        return default
    if isinstance(value, float | bool) or not low <= number <= high:
        errors.setdefault(field, []).append(f"Give a whole number from {low:,} to {high:,}.")
    return number


def _dataset_version(value, user, errors: dict) -> DatasetVersion | None:
    try:
        pk = int(value)
    except (TypeError, ValueError):
        errors.setdefault("dataset_version", []).append("Choose the evaluation data.")
        return None
    found = DatasetVersion.objects.select_related("dataset").filter(pk=pk).first()
    # A dataset the user may not see is "not found", exactly like one that does not exist.
    if found is None or (user is not None
                         and not access.visible_datasets(user).filter(pk=found.dataset_id).exists()):
        errors.setdefault("dataset_version", []).append("No such dataset version.")
        return None
    erased = erased_reason(found)
    if erased:
        errors.setdefault("dataset_version", []).append(erased)
        return None
    return found


def _check_column(name: str | None, field: str, columns: list[str], label: str, errors: dict) -> None:
    if name is not None and columns and name not in columns:
        errors.setdefault(field, []).append(f"{name!r} is not a column of {label}.")


def clean_model_evaluation_options(*, kind: str, version: ModelVersion, options: dict | None, user) -> dict:
    """The options of a fairness or robustness run as stored JSON, or ValidationError naming each field.

    ``user`` is the person starting the run (None for the demo seed): the dataset must be one they can see.
    """
    if not isinstance(options, dict):
        raise ValidationError({"dataset_version": ["Choose the evaluation data and its columns."]})
    errors: dict[str, list[str]] = {}
    dataset_version = _dataset_version(options.get("dataset_version"), user, errors)
    target = _text(options.get("target"), "target", errors)
    # Columns are known once the dataset was profiled; before that the run itself checks them.
    columns = dataset_version.column_names if dataset_version is not None else []
    label = f"{dataset_version.dataset.name} {dataset_version.version}" if dataset_version else ""
    _check_column(target, "target", columns, label, errors)
    # The label is kept for the pages, which show what a queued run will read before it has read it.
    cleaned: dict = {"dataset_version": dataset_version.pk if dataset_version else None, "dataset": label,
                     "target": target}

    if kind == RunKind.FAIRNESS:
        raw = options.get("sensitive") or []
        raw = [raw] if isinstance(raw, str) else raw
        sensitive = []
        for item in raw if isinstance(raw, list) else []:
            name = _text(item, "sensitive", errors)
            if name is not None and name not in sensitive:
                sensitive.append(name)
        if not sensitive and "sensitive" not in errors:
            errors["sensitive"] = ["Choose at least one sensitive column (for example sex or age band)."]
        if len(sensitive) > MAX_SENSITIVE_COLUMNS:
            errors.setdefault("sensitive", []).append(f"Choose at most {MAX_SENSITIVE_COLUMNS} sensitive columns.")
        for name in sensitive:
            _check_column(name, "sensitive", columns, label, errors)
        if target is not None and target in sensitive:
            errors.setdefault("sensitive", []).append("The target column cannot also be a sensitive column.")
        prediction = _text(options.get("prediction"), "prediction", errors, required=False)
        _check_column(prediction, "prediction", columns, label, errors)
        if prediction is None and not is_executable(version):
            errors.setdefault("prediction", []).append(
                f"This model is stored as {version.get_artifact_format_display()}, which Warden never executes: "
                "choose the column that holds the model's predictions.")
        if prediction is not None and prediction in (target, *sensitive):
            errors.setdefault("prediction", []).append("The prediction column must differ from the target and "
                                                       "the sensitive columns.")
        task = options.get("task") or "classification"
        if task not in ("classification", "regression"):
            errors.setdefault("task", []).append("Choose classification or regression.")
        min_group = _int(options.get("min_group_size"), "min_group_size", errors, default=30, low=1, high=100_000)
        cleaned.update(sensitive=sensitive, prediction=prediction, task=task, min_group_size=min_group)
    elif kind == RunKind.ROBUSTNESS:
        if not is_executable(version):
            errors.setdefault("model_version", []).append(
                f"Robustness needs a model that may be executed (skops or ONNX); this version is stored as "
                f"{version.get_artifact_format_display()}.")
        cleaned["seed"] = _int(options.get("seed"), "seed", errors, default=0, low=0, high=MAX_SEED)
        cleaned["sample_size"] = _int(options.get("sample_size"), "sample_size", errors,
                                      default=DEFAULT_SAMPLE_SIZE, low=100, high=max(SAMPLE_SIZES))
    else:
        raise ValueError(f"{kind} is not a model evaluation")
    if errors:
        raise ValidationError(errors)
    return cleaned
