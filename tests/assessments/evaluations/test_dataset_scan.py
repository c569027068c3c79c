"""The dataset scan on its own (no database): structure, chunking, Parquet, integrity, labels, poisoning signs."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pytest

from assessments.evaluations.dataset_scan import DatasetScanError, scan_dataset, scanner
from tests.assessments.evaluations.conftest import card_csv, csv_bytes


def scan(content: bytes, file_format: str = "csv", **kwargs):
    return scan_dataset(io.BytesIO(content), file_format=file_format, **kwargs)


def rules(result) -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in result.findings:
        found.setdefault(finding.rule_id, []).append(finding)
    return found


def test_structure_counts_and_types():
    content = csv_bytes(
        [[1, 2.5, "a", 7, None], [2, 3.5, "b", 7, None], [3, None, "a", 7, None], [1, 2.5, "a", 7, None]],
        ["id", "score", "segment", "constant", "empty"],
    )
    result = scan(content, expected_sha256=hashlib.sha256(content).hexdigest())
    assert result.rows == 4 and len(result.columns) == 5
    columns = {c["name"]: c for c in result.columns}
    assert columns["id"]["dtype"] == "int64" and columns["score"]["dtype"] == "float64"
    assert columns["segment"]["dtype"] == "object" and columns["empty"]["dtype"] == "empty"
    assert columns["score"]["missing"] == 1 and columns["segment"]["distinct"] == 2
    assert columns["constant"]["constant"] is True
    assert result.duplicates == 1 and result.integrity_ok is True
    found = rules(result)
    assert {"quality.duplicate-rows", "quality.constant-column", "quality.empty-column"} <= set(found)


def test_progress_is_reported_and_increases():
    seen = []
    scan(card_csv(200), progress=lambda fraction, message: seen.append(fraction))
    assert seen[0] == 0.0 and seen == sorted(seen) and seen[-1] >= 0.9


def test_small_chunks_give_the_same_result_as_one_chunk(monkeypatch):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=5000).round(3), "label": rng.integers(0, 2, 5000),
                          "email": [f"u{i}@example.com" for i in range(5000)]})
    content = frame.to_csv(index=False).encode()
    whole = scan(content)
    monkeypatch.setattr(scanner, "MAX_CHUNK_ROWS", 1000)  # five chunks
    chunked = scan(content)
    assert chunked.rows == whole.rows == 5000
    assert chunked.columns == whole.columns
    assert chunked.pii["email"]["email"]["count"] == 5000
    assert chunked.duplicates == whole.duplicates and chunked.labels == whole.labels


def test_parquet_is_read_by_row_groups():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"amount": rng.normal(100, 10, 3000), "card": ["4111 1111 1111 1111"] * 3000,
                          "when": pd.date_range("2024-01-01", periods=3000, freq="h")})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=False, row_group_size=500)
    result = scan(buffer.getvalue(), file_format="parquet")
    assert result.rows == 3000
    assert {c["name"]: c["dtype"] for c in result.columns}["amount"] == "float64"
    assert result.cardholder_data and "card" in result.pii


def test_integrity_mismatch_is_critical():
    result = scan(b"a,b\n1,2\n", expected_sha256="0" * 64)
    assert result.integrity_ok is False
    assert rules(result)["integrity.sha256-mismatch"][0].severity == "critical"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"a,b\n1,2\n\xff\xfe\n", "not UTF-8"),
])
def test_unreadable_files_raise_a_readable_error(content, message):
    with pytest.raises(DatasetScanError, match=message):
        scan(content)


def test_rows_with_the_wrong_number_of_fields_are_counted_not_fatal():
    result = scan(b"a,b\n1,2\n3\n4,5,6\n7,8\n9,10,11,12\n")
    # Too many fields: skipped and counted; too few: kept with the missing fields empty.
    assert result.rows == 3 and result.malformed_rows == 2 and result.malformed_lines == [4, 6]
    assert rules(result)["quality.malformed-rows"][0].severity == "medium"


def test_label_balance_and_conflicting_labels():
    rows = [[i % 50, i % 7, 0] for i in range(1000)] + [[1, 1, 1]] * 5  # rare class; (1, 1) also labelled 0
    result = scan(csv_bytes(rows, ["f1", "f2", "target"]))
    assert result.label_column == "target" and result.labels == {"0": 1000, "1": 5}
    found = rules(result)
    assert found["quality.label-imbalance"][0].severity == "medium"
    assert result.conflicting_labels["groups"] == 1
    assert found["poisoning.conflicting-labels"][0].location == "column target"


def test_label_column_can_be_named_and_must_exist():
    content = csv_bytes([[1, "yes"], [2, "no"]], ["id", "approved"])
    assert scan(content, label_column="approved").labels == {"yes": 1, "no": 1}
    assert scan(content).label_column is None
    with pytest.raises(DatasetScanError, match="not in the file"):
        scan(content, label_column="missing")


def test_outliers_and_unusual_rows():
    rng = np.random.default_rng(2)
    values = rng.normal(50, 5, 3000)
    values[:90] = 5000  # 3% injected extremes
    frame = pd.DataFrame({"a": values, "b": rng.normal(size=3000)})
    result = scan(frame.to_csv(index=False).encode())
    assert result.outliers["a"]["share"] == pytest.approx(0.03, abs=0.005)
    found = rules(result)
    assert found["poisoning.outliers"][0].location == "column a"
    assert result.isolation["unusual_rows"] >= 80
    assert "poisoning.unusual-rows" in found


def test_clean_normal_data_raises_no_poisoning_flags():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.normal(size=5000), "label": rng.integers(0, 2, 5000)})
    result = scan(frame.to_csv(index=False).encode())
    assert not [f for f in result.findings if f.rule_id.startswith("poisoning.") and f.severity != "info"]


def test_drift_findings_against_a_previous_profile():
    rng = np.random.default_rng(4)
    before = scan(pd.DataFrame({"x": rng.normal(size=4000), "c": rng.choice(["a", "b"], 4000)})
                  .to_csv(index=False).encode())
    after = scan(pd.DataFrame({"x": rng.normal(1.0, size=4000), "c": rng.choice(["a", "b"], 4000, p=[0.9, 0.1]),
                               "new": 1}).to_csv(index=False).encode(),
                 previous_profile=before.profile, previous_label="v1")
    assert after.drift["columns"]["x"]["ks"] > 0.3 and after.drift["columns"]["c"]["psi"] > 0.25
    found = rules(after)
    assert {f.location for f in found["drift.column"]} == {"column x", "column c"}
    assert found["drift.schema"][0].data["added"] == ["new"]


def test_columns_with_personal_data_count_in_the_schema_change():
    # Profiles leave out personal-data columns, so the column names say what was added or removed:
    # a de-identified copy that drops "email" and pseudonymises "ssn" removed one column and added none.
    rng = np.random.default_rng(5)
    before_frame = pd.DataFrame({"x": rng.normal(size=500), "email": [f"p{i}@example.com" for i in range(500)],
                                 "ssn": [f"{100 + i % 700:03d}-{10 + i % 80:02d}-{1000 + i:04d}" for i in range(500)]})
    before = scan(before_frame.to_csv(index=False).encode())
    after_frame = before_frame.drop(columns=["email"]).assign(ssn=[f"pseudonym-{i}" for i in range(500)])
    after = scan(after_frame.to_csv(index=False).encode(), previous_profile=before.profile, previous_label="v1",
                 previous_columns=[column["name"] for column in before.to_dict()["columns"]])
    assert after.drift["removed"] == ["email"] and after.drift["added"] == []


def test_personal_data_columns_get_no_profile():
    result = scan(card_csv(50))
    assert "email" not in result.profile and "card_number" not in result.profile and "amount" in result.profile
