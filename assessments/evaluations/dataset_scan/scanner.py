"""The dataset scan: one streaming pass over a CSV or Parquet file, in chunks, with bounded memory.

``scan_dataset(fileobj, file_format=...)`` reads the file chunk by chunk (pandas' C parser for CSV,
every value as a string so that nothing is lost to type guessing, held as Arrow strings; pyarrow
row batches for Parquet) and keeps,
per column, running counts and small samples: missing values, whether every value is a number,
min/max, a reservoir sample (for quantiles, drift and outliers), value counts while a column has
few distinct values, and its personal-data detector (``pii.ColumnPII``). Per row it keeps 16 bytes
of hashes (duplicates, identical features with different labels). Memory therefore depends on
the number of columns and the sample sizes, not on the number of rows.

Before the pass the file's SHA-256 is recomputed and compared with the registered one (and a CSV
file checked to be UTF-8 text).

The label column (for label balance and conflicting-label checks) is the one named in the run's
options, else the first column called ``label``, ``target``, ``class``, ``y`` or ``outcome`` (case
ignored); without one those two checks are skipped and the report says so.

Nothing here imports Django: the run infrastructure hands in a file from Django's storage, the
benchmark a local file. Findings carry the catalogue URNs of the requirements they bear on.
"""

from __future__ import annotations

import csv
import io
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from assessments.evaluations.dataset_scan import drift, integrity, outliers
from assessments.evaluations.dataset_scan.pii import LABELS, SEVERITY, ColumnPII, column_hints

LABEL_COLUMN_NAMES = ("label", "target", "class", "y", "outcome")
RESERVOIR_SIZE = 20_000
ROW_SAMPLE_SIZE = 4_000
CATEGORY_LIMIT = 1_000
CHUNK_CELLS = 2_000_000
MAX_CHUNK_ROWS = 100_000
MISSING_SHARE_FLAG = 0.5
DUPLICATE_SHARE_HIGH = 0.1
IMBALANCE_LOW, IMBALANCE_SEVERE = 0.05, 0.01
OUTLIER_SHARE_FLAG = 0.01
UNUSUAL_ROWS_FLAG = 0.02

NUMBER_RE = r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$"
INTEGER_RE = r"^\s*[-+]?\d+\s*$"

# Catalogue references (assessments/catalog/*.yaml).
GDPR_MINIMISATION = "urn:warden:gdpr:art-5-1-c"
GDPR_BY_DESIGN = "urn:warden:gdpr:art-25"
PCI_STORED_ACCOUNT_DATA = "urn:warden:pci-dss:3.2"
PCI_NO_LIVE_PAN = "urn:warden:pci-dss:6.5.5"
HIPAA_INTEGRITY = "urn:warden:hipaa:164.312-c-1"
HIPAA_INTEGRITY_MECHANISM = "urn:warden:hipaa:164.312-c-2"
EU_DATA_QUALITY = "urn:warden:eu-ai-act:art-10-3"
EU_RESILIENCE = "urn:warden:eu-ai-act:art-15-5"
MASKING = "urn:warden:control:pseudonymisation-masking"
MINIMISATION = "urn:warden:control:data-minimisation"
VALIDATION = "urn:warden:control:data-validation"
PROVENANCE = "urn:warden:control:data-provenance"


class DatasetScanError(Exception):
    """The file cannot be scanned; the message says why, in words."""


@dataclass
class ScanFinding:
    severity: str
    rule_id: str
    title: str
    detail: str = ""
    location: str = ""
    requirement_urns: list[str] = field(default_factory=list)
    control_urns: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"severity": self.severity, "rule_id": self.rule_id, "title": self.title, "detail": self.detail,
                "location": self.location, "requirement_urns": self.requirement_urns,
                "control_urns": self.control_urns, "data": self.data}


# --- samples ---------------------------------------------------------------------------------------------------

class Reservoir:
    """A uniform random sample of a stream: keep the values with the smallest random keys."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size = size
        self.rng = rng
        self.keys = np.empty(0)
        self.values = np.empty(0)

    def add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        keys = np.concatenate([self.keys, self.rng.random(len(values))])
        values = np.concatenate([self.values, values])
        if len(keys) > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            keys, values = keys[keep], values[keep]
        self.keys, self.values = keys, values


class RowReservoir:
    """A uniform sample of whole rows (their numeric values), for IsolationForest."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size = size
        self.rng = rng
        self.keys = np.empty(0)
        self.rows: np.ndarray | None = None

    def candidates(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Which rows of a chunk of ``count`` rows could enter the sample (positions and keys)."""
        keys = self.rng.random(count)
        if count > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            return keep, keys[keep]
        return np.arange(count), keys

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        if self.rows is None:
            self.rows = np.empty((0, rows.shape[1]))
        keys = np.concatenate([self.keys, keys])
        rows = np.vstack([self.rows, rows])
        if len(keys) > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            keys, rows = keys[keep], rows[keep]
        self.keys, self.rows = keys, rows


# --- per column ------------------------------------------------------------------------------------------------

class ColumnState:
    def __init__(self, name: str, rng: np.random.Generator):
        self.name = name
        self.rows = 0
        self.missing = 0
        self.numeric = True  # every non-missing value so far is a number
        self.integral = True
        self.minimum = np.inf
        self.maximum = -np.inf
        self.total = 0.0
        self.reservoir = Reservoir(RESERVOIR_SIZE, rng)
        self.categories: dict[str, int] | None = {}
        self.pii = ColumnPII(name, hints=column_hints(name))

    @property
    def non_null(self) -> int:
        return self.rows - self.missing

    def update(self, array: pa.Array) -> np.ndarray:
        """Take in one chunk (Arrow strings); return it as floats (NaN where missing or not a number)."""
        self.rows += len(array)
        self.missing += array.null_count
        numbers = np.full(len(array), np.nan)
        if self.numeric and array.null_count < len(array):
            is_number = pc.match_substring_regex(array, NUMBER_RE)
            if pc.all(pc.or_kleene(is_number, pc.is_null(array))).as_py() is not False:
                numbers = pc.cast(pc.utf8_trim_whitespace(array), pa.float64()).to_numpy(zero_copy_only=False)
                numbers = np.where(np.isfinite(numbers), numbers, np.nan)
                finite = numbers[~np.isnan(numbers)]
                if len(finite):
                    self.minimum = min(self.minimum, float(finite.min()))
                    self.maximum = max(self.maximum, float(finite.max()))
                    self.total += float(finite.sum())
                    self.reservoir.add(finite)
                if self.integral:
                    is_integer = pc.match_substring_regex(array, INTEGER_RE)
                    self.integral = pc.all(pc.or_kleene(is_integer, pc.is_null(array))).as_py() is not False
            else:
                self.numeric = False
                self.reservoir = Reservoir(0, self.reservoir.rng)
                numbers = np.full(len(array), np.nan)
        if self.categories is not None:
            counted = pc.value_counts(array)
            for value, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(),
                                    strict=True):
                if value is not None:
                    self.categories[value] = self.categories.get(value, 0) + count
            if len(self.categories) > CATEGORY_LIMIT:
                self.categories = None
        self.pii.update(array, numeric=self.numeric and self.non_null > 0)
        return numbers

    @property
    def is_numeric(self) -> bool:
        return self.numeric and self.non_null > 0

    def dtype(self) -> str:
        if self.non_null == 0:
            return "empty"
        if self.is_numeric:
            return "int64" if self.integral else "float64"
        return "object"

    def distinct(self) -> int | None:
        return None if self.categories is None else len(self.categories)

    def is_constant(self) -> bool:
        if self.non_null == 0:
            return False
        if self.is_numeric:
            return self.minimum == self.maximum
        return self.categories is not None and len(self.categories) == 1

    def stats(self, pii_kinds: dict) -> dict:
        result = {
            "name": self.name, "dtype": self.dtype(), "missing": self.missing,
            "missing_share": round(self.missing / self.rows, 6) if self.rows else 0.0,
            "distinct": self.distinct(), "constant": self.is_constant(),
            "pii": sorted(pii_kinds),
        }
        if self.is_numeric:
            result.update(min=self.minimum, max=self.maximum,
                          mean=round(self.total / self.non_null, 6) if self.non_null else None)
        return result

    def profile(self) -> dict | None:
        if self.is_numeric:
            return drift.numeric_profile(self.reservoir.values, self.non_null)
        if self.categories is not None and self.non_null:
            return drift.categorical_profile(self.categories, self.non_null, complete=True)
        return None


# --- reading ---------------------------------------------------------------------------------------------------

class _CountingReader(io.RawIOBase):
    """Counts the bytes the CSV reader takes, for progress."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        return size


def _chunk_rows(columns: int) -> int:
    return max(1_000, min(MAX_CHUNK_ROWS, CHUNK_CELLS // max(columns, 1)))


def _header(fileobj) -> list[str]:
    fileobj.seek(0)
    first = fileobj.readline(1 << 20)
    fileobj.seek(0)
    if not first.strip():
        raise DatasetScanError("The file is empty: there is no header row to read.")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetScanError("The file is not UTF-8 text (its header row cannot be decoded).") from None
    return next(csv.reader([text]))


def _csv_chunks(fileobj, size: int, malformed: list) -> Iterator[tuple[pa.RecordBatch, float]]:
    """Row batches of a CSV file, every column read as text, with pandas' C parser in chunks.

    Pull-based on purpose: the parser reads the next chunk only when the scan asks for it, so memory
    holds one chunk whatever the file's size (pyarrow's faster reader reads ahead on a thread of its
    own, and on a fast disk takes in a good part of the file before the first batch is processed).
    Rows with too many fields are skipped and their line numbers listed in ``malformed``, so that one
    bad line does not hide the rest of the file; rows with too few fields are kept, the missing
    fields empty, as CSV readers usually do.
    """
    rows = _chunk_rows(len(_header(fileobj)))
    fileobj.seek(0)
    counter = _CountingReader(fileobj)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            reader = pd.read_csv(io.BufferedReader(counter, buffer_size=1 << 20), dtype="str", encoding="utf-8",
                                 chunksize=rows, on_bad_lines="warn", low_memory=True)
            for chunk in reader:
                for warning in caught:
                    malformed.extend(int(number) for number in _SKIPPED_LINE.findall(str(warning.message)))
                caught.clear()
                arrays = [_arrow_strings(chunk.iloc[:, index]) for index in range(chunk.shape[1])]
                # pandas' names: a repeated header name comes back as "name.1", so each column keeps its own.
                yield (pa.RecordBatch.from_arrays(arrays, names=[str(name) for name in chunk.columns]),
                       counter.count / max(size, 1))
            for warning in caught:
                malformed.extend(int(number) for number in _SKIPPED_LINE.findall(str(warning.message)))
    except pd.errors.EmptyDataError:
        raise DatasetScanError("The file is empty: there is no header row to read.") from None
    except UnicodeDecodeError as exc:
        raise DatasetScanError(f"The file is not UTF-8 text (byte {exc.start} cannot be decoded).") from None
    except pd.errors.ParserError as exc:
        raise DatasetScanError(f"The CSV could not be parsed: {str(exc).strip()[:300]}") from None


_SKIPPED_LINE = re.compile(r"Skipping line (\d+)")


def _arrow_strings(series) -> pa.Array:
    array = pa.array(series.array) if series.dtype == "str" else pa.array(series.astype("str").array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array


def _as_strings(column: pa.Array) -> pa.Array:
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if value is None else str(value) for value in column.to_pylist()], pa.string())


def _parquet_chunks(fileobj) -> Iterator[tuple[pa.RecordBatch, float]]:
    """Row batches of a Parquet file (row group by row group), every column turned into text."""
    import pyarrow.parquet as pq

    try:
        fileobj.seek(0)
        parquet = pq.ParquetFile(fileobj)
        total = max(parquet.metadata.num_rows, 1)
        done = 0
        for batch in parquet.iter_batches(batch_size=_chunk_rows(parquet.metadata.num_columns)):
            done += batch.num_rows
            yield pa.RecordBatch.from_arrays([_as_strings(column) for column in batch.columns],
                                             names=batch.schema.names), done / total
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetScanError(f"The Parquet file could not be read: {str(exc).strip()[:300]}") from None


# --- the scan --------------------------------------------------------------------------------------------------

def _tool_versions() -> dict[str, str | None]:
    versions = {}
    for package in ("pandas", "pyarrow", "numpy", "scikit-learn"):
        try:
            versions[package] = package_version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def pick_label_column(columns: list[str], requested: str | None = None) -> str | None:
    if requested:
        if requested not in columns:
            raise DatasetScanError(f"The label column '{requested}' is not in the file.")
        return requested
    lowered = {column.lower(): column for column in reversed(columns)}
    return next((lowered[name] for name in LABEL_COLUMN_NAMES if name in lowered), None)


@dataclass
class DatasetScanResult:
    name: str
    file_format: str
    size: int
    sha256: str
    expected_sha256: str | None
    rows: int = 0
    malformed_rows: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    columns: list[dict] = field(default_factory=list)
    duplicates: int = 0
    duplicates_exact: bool = True
    label_column: str | None = None
    labels: dict | None = None
    conflicting_labels: dict | None = None
    outliers: dict = field(default_factory=dict)
    isolation: dict | None = None
    pii: dict = field(default_factory=dict)
    profile: dict = field(default_factory=dict)
    drift: dict | None = None
    findings: list[ScanFinding] = field(default_factory=list)
    tool_versions: dict = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def integrity_ok(self) -> bool | None:
        return None if not self.expected_sha256 else self.sha256 == self.expected_sha256

    @property
    def cardholder_data(self) -> bool:
        return any("card" in kinds for kinds in self.pii.values())

    @property
    def personal_data(self) -> bool:
        return bool(self.pii)

    def to_dict(self) -> dict:
        return {
            "schema": "warden.dataset-scan/1",
            "name": self.name, "format": self.file_format, "size": self.size, "sha256": self.sha256,
            "expected_sha256": self.expected_sha256, "integrity_ok": self.integrity_ok,
            "rows": self.rows, "malformed_rows": self.malformed_rows, "malformed_lines": self.malformed_lines,
            "column_count": len(self.columns), "columns": self.columns,
            "duplicate_rows": self.duplicates, "duplicates_exact": self.duplicates_exact,
            "label_column": self.label_column, "labels": self.labels, "conflicting_labels": self.conflicting_labels,
            "outliers": self.outliers, "isolation_forest": self.isolation,
            "personal_data": {column: dict(kinds) for column, kinds in self.pii.items()},
            "cardholder_data": self.cardholder_data,
            "profile": self.profile, "drift": self.drift,
            "findings": [finding.to_dict() for finding in self.findings],
            "tool_versions": self.tool_versions, "duration_s": round(self.duration_s, 3),
        }


def scan_dataset(
    fileobj, *, file_format: str, name: str = "", expected_sha256: str | None = None,
    previous_profile: dict | None = None, previous_label: str = "", label_column: str | None = None,
    progress: Callable[[float, str], None] | None = None, seed: int = 0, previous_columns: list[str] | None = None,
) -> DatasetScanResult:
    """Scan a CSV or Parquet file (an open binary file, seekable). ``progress(fraction, message)``.

    ``previous_profile`` and ``previous_columns`` describe the previous version (for drift and for the
    columns added or removed: profiles leave out personal-data columns, so they cannot tell those)."""
    started = time.monotonic()
    report = progress or (lambda fraction, message: None)
    rng = np.random.default_rng(seed)

    report(0.0, "Checking the file's SHA-256")
    try:
        sha256, size = integrity.sha256_stream(fileobj, check_utf8=file_format != "parquet")
    except integrity.NotUtf8 as exc:
        raise DatasetScanError(f"The file is not UTF-8 text (byte {exc.offset:,} cannot be decoded).") from None
    result = DatasetScanResult(name=name, file_format=file_format, size=size, sha256=sha256,
                               expected_sha256=expected_sha256, tool_versions=_tool_versions())
    report(0.05, "Reading the data")

    malformed: list = []
    chunks = _parquet_chunks(fileobj) if file_format == "parquet" else _csv_chunks(fileobj, size, malformed)
    states: dict[str, ColumnState] = {}
    rows_tracker = integrity.RowTracker()
    row_sample = RowReservoir(ROW_SAMPLE_SIZE, rng)
    column_names: list[str] = []
    label = None
    for batch, done in chunks:
        if not column_names:
            column_names = [str(name) for name in batch.schema.names]
            label = pick_label_column(column_names, label_column)
            states = {column: ColumnState(column, rng) for column in column_names}
        arrays = batch.columns
        count = batch.num_rows
        numbers = (np.column_stack([states[name].update(array) for name, array in zip(column_names, arrays,
                                                                                       strict=True)])
                   if column_names else np.empty((count, 0)))
        hashes = [integrity.hash_strings(array) for array in arrays]
        row_hashes = integrity.combine(hashes, count)
        if label is not None:
            label_index = column_names.index(label)
            features = integrity.combine([h for i, h in enumerate(hashes) if i != label_index], count)
            rows_tracker.add(row_hashes, features, hashes[label_index])
        else:
            rows_tracker.add(row_hashes)
        positions, keys = row_sample.candidates(count)
        row_sample.add(keys, numbers[positions])
        result.rows += count
        report(0.05 + 0.85 * min(done, 1.0), f"Read {result.rows:,} rows")

    report(0.92, "Checking duplicates, labels, outliers and drift")
    result.malformed_rows = len(malformed)
    result.malformed_lines = [number for number in malformed[:10] if number is not None]
    _conclude(result, states, column_names, label, rows_tracker, row_sample, previous_profile, previous_label,
              previous_columns)
    result.duration_s = time.monotonic() - started
    return result


def _conclude(result, states, column_names, label, rows_tracker, row_sample, previous_profile, previous_label,
              previous_columns=None):
    result.label_column = label
    for column in column_names:
        kinds = states[column].pii.decide()
        if kinds:
            result.pii[column] = {
                kind: {"count": counted.count, "share": round(counted.count / max(states[column].non_null, 1), 6),
                       "examples": counted.examples, **({"brands": counted.brands} if counted.brands else {})}
                for kind, counted in kinds.items()
            }
    result.columns = [states[column].stats(result.pii.get(column, {})) for column in column_names]
    # Columns with personal data get no profile: even hashed, their values could be guessed back.
    result.profile = {column: profile for column in column_names
                      if column not in result.pii and (profile := states[column].profile()) is not None}
    result.duplicates = rows_tracker.duplicates()
    result.duplicates_exact = not rows_tracker.truncated
    if label is not None and label not in result.pii:
        state = states[label]
        if state.categories is not None:
            result.labels = dict(sorted(state.categories.items(), key=lambda item: -item[1]))
        result.conflicting_labels = rows_tracker.conflicting_labels()
    # Identifiers written as digits (card numbers…) are not measurements: no outliers for them.
    numeric = [column for column in column_names
               if states[column].is_numeric and column != label and column not in result.pii]
    result.outliers = {column: outliers.robust_outliers(states[column].reservoir.values, states[column].non_null)
                       for column in numeric}
    if numeric and row_sample.rows is not None:
        indexes = [column_names.index(column) for column in numeric]
        result.isolation = outliers.isolation_forest(row_sample.rows[:, indexes])
    if previous_profile:
        result.drift = drift.compare_profiles(previous_profile, result.profile, previous_columns=previous_columns,
                                              current_columns=column_names)
        result.drift["previous_version"] = previous_label
    result.findings = _findings(result, states)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


def _findings(result: DatasetScanResult, states: dict[str, ColumnState]) -> list[ScanFinding]:
    found: list[ScanFinding] = []
    add = found.append
    if result.integrity_ok is False:
        add(ScanFinding(
            "critical", "integrity.sha256-mismatch", "The file no longer matches the SHA-256 recorded at upload",
            f"Recorded {result.expected_sha256}, found {result.sha256}: the stored file was changed or replaced "
            "after it was registered.", "file",
            [HIPAA_INTEGRITY, HIPAA_INTEGRITY_MECHANISM], [PROVENANCE],
            {"expected": result.expected_sha256, "found": result.sha256},
        ))
    if result.malformed_rows:
        lines = ", ".join(str(number) for number in result.malformed_lines)
        add(ScanFinding(
            "medium", "quality.malformed-rows", "Rows with the wrong number of fields",
            f"{result.malformed_rows:,} rows could not be read and were left out of the scan"
            + (f" (first at lines {lines})" if lines else "") + ". A truncated or hand-edited file?",
            "rows", [EU_DATA_QUALITY, HIPAA_INTEGRITY], [VALIDATION], {"rows": result.malformed_rows},
        ))
    for column, kinds in result.pii.items():
        non_null = states[column].non_null
        for kind, info in kinds.items():
            requirements = [GDPR_MINIMISATION, GDPR_BY_DESIGN]
            if kind == "card":
                requirements += [PCI_STORED_ACCOUNT_DATA, PCI_NO_LIVE_PAN]
            examples = ", ".join(info["examples"])
            detail = f"{info['count']:,} of {non_null:,} values ({_share(info['count'], non_null)})."
            if examples:
                detail += f" Examples, masked: {examples}."
            if kind == "card":
                detail += (" Luhn-valid numbers with a card issuer prefix: the dataset holds cardholder data and is "
                           "in PCI DSS scope, and so are the models trained on it.")
            add(ScanFinding(SEVERITY[kind], f"pii.{kind}", f"Column '{column}' holds {LABELS[kind]}", detail,
                            f"column {column}", requirements, [MASKING, MINIMISATION], {"column": column, **info}))
    if result.duplicates:
        share = result.duplicates / max(result.rows, 1)
        add(ScanFinding(
            "medium" if share >= DUPLICATE_SHARE_HIGH else "low", "quality.duplicate-rows",
            "Duplicate rows", f"{result.duplicates:,} rows ({_share(result.duplicates, result.rows)}) repeat an "
            "earlier row exactly" + ("" if result.duplicates_exact else " (counted in the first 10 million rows)")
            + ". Duplicates over-weight some records and can leak between training and test splits.",
            "rows", [EU_DATA_QUALITY], [VALIDATION], {"duplicates": result.duplicates},
        ))
    conflicts = result.conflicting_labels or {}
    if conflicts.get("groups"):
        share = conflicts["rows"] / max(result.rows, 1)
        add(ScanFinding(
            "high" if share >= 0.01 else "medium", "poisoning.conflicting-labels",
            "Identical rows with different labels",
            f"{conflicts['groups']:,} groups of rows ({conflicts['rows']:,} rows) have the same features but "
            f"different values in '{result.label_column}': label noise, or label flipping by someone poisoning "
            "the training data.", f"column {result.label_column}", [EU_DATA_QUALITY, EU_RESILIENCE], [VALIDATION],
            conflicts,
        ))
    for column in result.columns:
        name = column["name"]
        if column["dtype"] == "empty":
            add(ScanFinding("low", "quality.empty-column", f"Column '{name}' is empty",
                            "No row has a value in this column: drop it (data minimisation).", f"column {name}",
                            [GDPR_MINIMISATION], [MINIMISATION]))
        elif column["constant"]:
            add(ScanFinding("low", "quality.constant-column", f"Column '{name}' has the same value in every row",
                            "A constant column carries no information for a model: drop it (data minimisation).",
                            f"column {name}", [GDPR_MINIMISATION], [MINIMISATION]))
        elif column["missing_share"] >= MISSING_SHARE_FLAG:
            add(ScanFinding("low", "quality.missing-values", f"Column '{name}' is mostly missing",
                            f"{column['missing']:,} of {result.rows:,} values ({column['missing_share']:.1%}) are "
                            "missing.", f"column {name}", [EU_DATA_QUALITY], [VALIDATION],
                            {"missing": column["missing"]}))
    if result.labels and len(result.labels) > 1:
        total = sum(result.labels.values())
        rarest, count = min(result.labels.items(), key=lambda item: item[1])
        share = count / total
        if share < IMBALANCE_LOW:
            add(ScanFinding(
                "medium" if share < IMBALANCE_SEVERE else "low", "quality.label-imbalance", "Imbalanced labels",
                f"The rarest value of '{result.label_column}' makes up {share:.2%} of labelled rows "
                f"({count:,} of {total:,}); a model may learn to ignore it.",
                f"column {result.label_column}", [EU_DATA_QUALITY], [VALIDATION],
                {"classes": len(result.labels), "rarest_share": round(share, 6)},
            ))
    for column, info in result.outliers.items():
        if info["share"] >= OUTLIER_SHARE_FLAG:
            add(ScanFinding(
                "low", "poisoning.outliers", f"Extreme values in column '{column}'",
                f"About {info['estimated']:,} values ({info['share']:.1%} of a {info['sampled']:,}-value sample) "
                "have a robust z-score beyond 3.5. Check they are real: injected extremes are a poisoning technique.",
                f"column {column}", [EU_DATA_QUALITY, EU_RESILIENCE], [VALIDATION], info,
            ))
    if result.isolation and result.isolation["share"] >= UNUSUAL_ROWS_FLAG:
        info = result.isolation
        add(ScanFinding(
            "info", "poisoning.unusual-rows", "Unusual rows (IsolationForest)",
            f"{info['unusual_rows']:,} of {info['sampled_rows']:,} sampled rows ({info['share']:.1%}) are isolated "
            f"unusually quickly (score below {info['threshold']}): look for injected or corrupted records.",
            "rows", [EU_DATA_QUALITY, EU_RESILIENCE], [VALIDATION], info,
        ))
    if result.drift:
        previous = result.drift.get("previous_version") or "the previous version"
        for column, info in result.drift["columns"].items():
            level = drift.drift_level(info)
            if level is None:
                continue
            measures = f"PSI {info['psi']:.3f}" + (f", KS {info['ks']:.3f}" if "ks" in info else "")
            add(ScanFinding(
                "medium" if level == "significant" else "low", "drift.column",
                f"Column '{column}' changed distribution since {previous}",
                f"{level.capitalize()} drift ({measures}). Expected after a real change in the population; "
                "otherwise a sign of a pipeline fault or tampering.",
                f"column {column}", [EU_DATA_QUALITY], [VALIDATION], {"level": level, **info},
            ))
        if result.drift["added"] or result.drift["removed"]:
            parts = []
            if result.drift["added"]:
                parts.append("added: " + ", ".join(result.drift["added"][:20]))
            if result.drift["removed"]:
                parts.append("removed: " + ", ".join(result.drift["removed"][:20]))
            add(ScanFinding("info", "drift.schema", f"Columns changed since {previous}", "; ".join(parts) + ".",
                            "columns", [EU_DATA_QUALITY], [VALIDATION],
                            {"added": result.drift["added"], "removed": result.drift["removed"]}))
    return found
