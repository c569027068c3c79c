"""The monitoring report, validated as hostile input: every field typed, bounded and explained.

A report (JSON)::

    {
      "idempotency_key": "svc-a/2026-12-07T10:00Z",          # 1-200 printable characters
      "window_start": "2026-12-07T10:00:00Z",                 # ISO 8601 with a time zone
      "window_end":   "2026-12-07T11:00:00Z",                 # after the start, at most 31 days later
      "request_count": 12000, "error_count": 12,              # whole numbers, errors <= requests
      "predictions": {"counts": {"approve": 7000, "refuse": 5000}}   # or {"quantiles": [...]} for scores
      "features": {                                           # per input feature, at most 500
        "income": {"quantiles": [q0, ..., q100]},             # 2-101 equally spaced quantiles, ascending
        "region": {"counts": {"north": 5000, "south": 7000}}  # at most 1,000 values
      },
      "labels": {                                             # optional; may also come later
        "labelled_count": 800, "accuracy": 0.91,
        "groups": {"sex": {"female": {"count": 400, "selected": 180}, "male": {...}}}
      }
    }

``ReportError`` carries ``{json path: [messages]}`` so the API can name every problem at once.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.dateparse import parse_datetime

MAX_KEY = 200
MAX_FEATURES = 500
MAX_CATEGORIES = 1000
MAX_QUANTILES = 101
MAX_GROUPINGS = 20
MAX_GROUPS = 200
MAX_COUNT = 10**12
# Feature values beyond this are not measurements but overflow or sentinels (and would overflow the PSI bins).
MAX_MAGNITUDE = 1e15
MAX_WINDOW = dt.timedelta(days=31)
CLOCK_SKEW = dt.timedelta(minutes=5)
NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
TOP_LEVEL = {"idempotency_key", "window_start", "window_end", "request_count", "error_count", "predictions",
             "features", "labels"}


class ReportError(ValueError):
    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in problems.items()))


@dataclass
class Labels:
    labelled_count: int
    accuracy: float | None
    groups: dict[str, dict[str, dict[str, int]]]

    def as_dict(self) -> dict:
        return {"labelled_count": self.labelled_count, "accuracy": self.accuracy, "groups": self.groups}


@dataclass
class Report:
    idempotency_key: str
    window_start: dt.datetime
    window_end: dt.datetime
    request_count: int
    error_count: int
    predictions: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)
    labels: Labels | None = None


class _Problems:
    def __init__(self):
        self.found: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.found.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self.found:
            raise ReportError(self.found)


def _count(value, path: str, problems: _Problems, *, required: bool = True) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(path, "Must be a whole number.")
        return None
    if value < 0 or value > MAX_COUNT:
        problems.add(path, f"Must be between 0 and {MAX_COUNT:,}.")
        return None
    return value


def _number(value, path: str, problems: _Problems) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.add(path, "Must be a finite number.")
        return None
    return float(value)


def _quantiles(value, path: str, problems: _Problems) -> list[float] | None:
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_QUANTILES:
        problems.add(path, f"Must be a list of 2 to {MAX_QUANTILES} equally spaced quantiles (minimum first, "
                           "maximum last).")
        return None
    numbers = [_number(item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
    if any(number is None for number in numbers):
        return None
    if any(abs(number) > MAX_MAGNITUDE for number in numbers):
        problems.add(path, f"Quantiles must lie within ±{MAX_MAGNITUDE:.0e}.")
        return None
    if any(b < a for a, b in zip(numbers, numbers[1:], strict=False)):
        problems.add(path, "Quantiles must not decrease.")
        return None
    return numbers


def _counts(value, path: str, problems: _Problems) -> dict[str, int] | None:
    if not isinstance(value, dict) or not value:
        problems.add(path, "Must be an object of value → count, with at least one value.")
        return None
    if len(value) > MAX_CATEGORIES:
        problems.add(path, f"At most {MAX_CATEGORIES} values; pool the rarest as one value.")
        return None
    result = {}
    for name, count in value.items():
        if not NAME.match(name):
            problems.add(path, "Value names are 1-200 characters without control characters.")
            return None
        checked = _count(count, f"{path}.{name}", problems)
        if checked is None:
            return None
        result[name] = checked
    return result


def _distribution(value, path: str, problems: _Problems) -> dict | None:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("counts", "quantiles"):
        problems.add(path, 'Must be {"counts": {...}} or {"quantiles": [...]}.')
        return None
    kind, body = next(iter(value.items()))
    checked = _counts(body, f"{path}.counts", problems) if kind == "counts" else \
        _quantiles(body, f"{path}.quantiles", problems)
    return None if checked is None else {kind: checked}


def _when(value, path: str, problems: _Problems) -> dt.datetime | None:
    parsed = parse_datetime(value) if isinstance(value, str) and len(value) <= 40 else None
    if parsed is None:
        problems.add(path, "Must be an ISO 8601 date and time, e.g. 2026-12-07T10:00:00Z.")
        return None
    if timezone.is_naive(parsed):
        problems.add(path, "Must include a time zone (Z or +hh:mm).")
        return None
    return parsed


def parse_labels(value, problems: _Problems | None = None, path: str = "labels") -> Labels | None:
    own = problems is None
    problems = problems or _Problems()
    if not isinstance(value, dict) or set(value) - {"labelled_count", "accuracy", "groups"}:
        problems.add(path, "Must be an object with labelled_count, and accuracy and/or groups.")
        if own:
            problems.raise_if_any()
        return None
    labelled = _count(value.get("labelled_count"), f"{path}.labelled_count", problems)
    accuracy = None
    if value.get("accuracy") is not None:
        accuracy = _number(value["accuracy"], f"{path}.accuracy", problems)
        if accuracy is not None and not 0.0 <= accuracy <= 1.0:
            problems.add(f"{path}.accuracy", "Must be between 0 and 1.")
    groups: dict = {}
    raw_groups = value.get("groups", {})
    if not isinstance(raw_groups, dict) or len(raw_groups) > MAX_GROUPINGS:
        problems.add(f"{path}.groups", f"Must be an object of at most {MAX_GROUPINGS} groupings.")
        raw_groups = {}
    for grouping, members in raw_groups.items():
        where = f"{path}.groups.{grouping}"
        if not NAME.match(grouping) or not isinstance(members, dict) or not members or len(members) > MAX_GROUPS:
            problems.add(where, f"Must name 1-{MAX_GROUPS} groups, each {{count, selected}}.")
            continue
        for group, figures in members.items():
            at = f"{where}.{group}"
            if not NAME.match(group) or not isinstance(figures, dict) or set(figures) != {"count", "selected"}:
                problems.add(at, "Must be {count, selected}.")
                continue
            count = _count(figures["count"], f"{at}.count", problems)
            selected = _count(figures["selected"], f"{at}.selected", problems)
            if count is not None and selected is not None:
                if selected > count:
                    problems.add(at, "selected cannot exceed count.")
                elif labelled is not None and count > labelled:
                    problems.add(at, "count cannot exceed labelled_count.")
                else:
                    groups.setdefault(grouping, {})[group] = {"count": count, "selected": selected}
    if accuracy is None and not raw_groups and "accuracy" not in problems.found:
        problems.add(path, "Give accuracy, groups or both.")
    if own:
        problems.raise_if_any()
    return Labels(labelled or 0, accuracy, groups)


def parse_report(payload) -> Report:
    problems = _Problems()
    if not isinstance(payload, dict):
        raise ReportError({"$": ["The report must be a JSON object."]})
    for unknown in sorted(set(payload) - TOP_LEVEL):
        problems.add(unknown, "Not a field of a monitoring report.")
    key = payload.get("idempotency_key")
    if not isinstance(key, str) or not KEY.match(key):
        problems.add("idempotency_key", f"Required: 1-{MAX_KEY} printable characters without spaces, unique per "
                                        "window.")
    start = _when(payload.get("window_start"), "window_start", problems)
    end = _when(payload.get("window_end"), "window_end", problems)
    if start and end:
        if end <= start:
            problems.add("window_end", "Must be after window_start.")
        elif end - start > MAX_WINDOW:
            problems.add("window_end", "A window is at most 31 days long.")
        if end > timezone.now() + CLOCK_SKEW:
            problems.add("window_end", "Is in the future: report a window once it has ended.")
    requests = _count(payload.get("request_count"), "request_count", problems)
    errors = _count(payload.get("error_count", 0), "error_count", problems)
    if requests is not None and errors is not None and errors > requests:
        problems.add("error_count", "Cannot exceed request_count.")
    predictions = {}
    if payload.get("predictions") is not None:
        predictions = _distribution(payload["predictions"], "predictions", problems) or {}
        total = sum(predictions.get("counts", {}).values())
        if requests is not None and total > requests:
            problems.add("predictions.counts", "Counts more predictions than requests in the window.")
    features = {}
    raw_features = payload.get("features", {})
    if not isinstance(raw_features, dict) or len(raw_features) > MAX_FEATURES:
        problems.add("features", f"Must be an object of at most {MAX_FEATURES} features.")
    else:
        for name, stats in raw_features.items():
            if not NAME.match(name):
                problems.add("features", "Feature names are 1-200 characters without control characters.")
                continue
            checked = _distribution(stats, f"features.{name}", problems)
            if checked is not None:
                features[name] = checked
    labels = parse_labels(payload["labels"], problems) if payload.get("labels") is not None else None
    problems.raise_if_any()
    return Report(idempotency_key=key, window_start=start, window_end=end, request_count=requests,
                  error_count=errors, predictions=predictions, features=features, labels=labels)
