"""The Django-free de-identification core: each action, k-anonymity by hand, pseudonym keys, bad requests."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from governance.deidentify import core
from governance.deidentify.core import ColumnRule, KAnonymity, Pseudonymiser, RuleError

KEY_A = b"a" * 32
KEY_B = b"b" * 32


def _series(*values) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def test_mask_keeps_only_the_last_characters_and_an_emails_domain():
    masked = core.mask(_series("4111 1111 1111 1234", "ab", "jane.doe@example.com", ""), 4)
    assert masked.tolist() == ["**** **** **** 1234", "**", "****.***@example.com", ""]
    assert core.mask(_series("+44 20 7946 0958"), 0).tolist() == ["+** ** **** ****"]
    # Letters of every script are masked, not only ASCII ones.
    assert core.mask(_series("Zoë Ñúñez-Łukasz", "李小龙"), 0).tolist() == ["*** *****-******", "***"]


def test_generalisers():
    assert core.year(_series("1984-03-02", "02/11/1990", "12.1.2001 10:00", "unknown", "")).tolist() == [
        "1984", "1990", "2001", "", ""]
    assert core.band(_series("37", "5", "40", "39.9", "-3", "x", ""), 10).tolist() == [
        "30-39", "0-9", "40-49", "30-39", "-10--1", "", ""]
    assert core.band(_series("7"), 5).tolist() == ["5-9"]
    assert core.prefix(_series("SW1A 1AA", "ec1a 1bb", "94107", " 10115 ", ""), 3).tolist() == [
        "SW1A", "EC1A", "941", "101", ""]
    assert core.network(_series("192.168.4.17", "2001:db8:85a3::8a2e:370:7334", "not an ip", "")).tolist() == [
        "192.168.4.x", "2001:db8:85a3:x", "", ""]


def test_pseudonyms_are_stable_across_files_and_differ_under_another_key():
    first_file = pd.DataFrame({"email": ["Jane@Example.com", "bob@example.com"], "x": [1, 2]})
    second_file = pd.DataFrame({"contact": ["bob@example.com", " jane@example.com "]})
    a1 = core.apply_rules(first_file, {"email": ColumnRule("pseudonymise")}, Pseudonymiser(KEY_A))
    # A second file, another column name, another process (a fresh Pseudonymiser): the same pseudonyms.
    a2 = core.apply_rules(second_file, {"contact": ColumnRule("pseudonymise")}, Pseudonymiser(KEY_A))
    b1 = core.apply_rules(first_file, {"email": ColumnRule("pseudonymise")}, Pseudonymiser(KEY_B))

    assert a1["email"].tolist() == [a2["contact"][1], a2["contact"][0]]  # trimmed and case-folded
    assert all(value.startswith("ps_") and len(value) == 23 for value in a1["email"])
    assert set(a1["email"]).isdisjoint(b1["email"])
    assert "Jane" not in "".join(a1["email"]) and a1["x"].tolist() == [1, 2]


def test_drop_keep_and_missing_values():
    frame = pd.DataFrame({"name": ["Ann Lee", None], "age": [34, None], "score": [0.5, 0.7]})
    out = core.apply_rules(frame, {"name": ColumnRule("drop"), "age": ColumnRule("band", 10)}, None)
    assert list(out.columns) == ["age", "score"]
    assert out["age"].tolist() == ["30-39", None]
    assert out["score"].tolist() == [0.5, 0.7]


def test_k_anonymity_on_a_hand_checked_table():
    # age band × postcode prefix: (30-39, SW1A) ×3, (30-39, EC1A) ×2, (40-49, SW1A) ×1  →  k = 1,
    # 3 groups, 2 groups smaller than 5 holding 3 rows.
    frame = pd.DataFrame({
        "age": ["31", "35", "39", "30", "33", "45"],
        "postcode": ["SW1A 1AA", "SW1A 2BB", "SW1A 9ZZ", "EC1A 1BB", "EC1A 7XX", "SW1A 1AA"],
        "income": ["1", "2", "3", "4", "5", "6"],
    })
    rules = {"age": ColumnRule("band", 10), "postcode": ColumnRule("prefix", 3)}
    source, sink = io.BytesIO(frame.to_csv(index=False).encode()), io.BytesIO()

    # Two rows per chunk: the counts must add up across chunks.
    result = core.deidentify_csv(source, sink, rules=rules, quasi_identifiers=["age", "postcode"],
                                 pseudonymiser=None, chunk_rows=2)

    assert result.rows == 6
    assert result.k_anonymity == {"quasi_identifiers": ["age", "postcode"], "k": 1, "classes": 3,
                                  "small_classes": 3, "rows_in_small_classes": 6, "small_class_limit": 5}
    # Wider bands merge the groups: (30-79, SW1A) ×4, (30-79, EC1A) ×2  →  k = 2.
    source.seek(0)
    wider = core.deidentify_csv(source, io.BytesIO(), rules={**rules, "age": ColumnRule("band", 50)},
                                quasi_identifiers=["age", "postcode"], pseudonymiser=None, chunk_rows=4)
    assert wider.k_anonymity["k"] == 2 and wider.k_anonymity["classes"] == 2
    # One quasi-identifier alone: SW1A ×4, EC1A ×2.
    counter = KAnonymity(["postcode"])
    counter.update(core.apply_rules(frame, rules, None))
    assert counter.result()["k"] == 2


def test_k_anonymity_combines_many_chunks():
    counter = KAnonymity(["g"])
    counter.COMBINE_EVERY = 3
    for _ in range(10):
        counter.update(pd.DataFrame({"g": ["a", "a", "b"]}))
    assert counter.result()["k"] == 10 and counter.result()["classes"] == 2


def test_csv_round_trip_keeps_untouched_columns_exactly():
    text = "id,zip,email\n007,02134,a@b.com\n010,,\n"
    sink = io.BytesIO()
    core.deidentify_csv(io.BytesIO(text.encode()), sink, rules={"email": ColumnRule("pseudonymise")},
                        quasi_identifiers=[], pseudonymiser=Pseudonymiser(KEY_A))
    lines = sink.getvalue().decode().splitlines()
    assert lines[0] == "id,zip,email"
    assert lines[1].startswith("007,02134,ps_") and lines[2] == "010,,"


def test_parquet_round_trip():
    frame = pd.DataFrame({"age": [37, None, 52], "email": ["a@b.com", None, "c@d.com"], "score": [1.0, 2.0, 3.0]})
    source, sink = io.BytesIO(), io.BytesIO()
    frame.to_parquet(source)
    source.seek(0)
    result = core.deidentify_parquet(source, sink, rules={"age": ColumnRule("band", 10),
                                                           "email": ColumnRule("drop")},
                                     quasi_identifiers=["age"], pseudonymiser=None, chunk_rows=2)
    sink.seek(0)
    out = pd.read_parquet(sink)
    assert list(out.columns) == ["age", "score"] and result.dropped == ["email"]
    assert out["age"][0] == "30-39" and pd.isna(out["age"][1]) and out["age"][2] == "50-59"
    assert result.k_anonymity["k"] == 1


def test_suggestions_follow_the_scan_and_the_column_names():
    rules, quasi = core.suggest(
        ["full_name", "email", "ssn", "card", "age", "postcode", "date_of_birth", "sex", "income"],
        {"full_name": ["name"], "email": ["email"], "ssn": ["ssn"], "card": ["card", "phone"],
         "date_of_birth": ["dob"]},
    )
    assert {column: rule.action for column, rule in rules.items()} == {
        "full_name": "drop", "email": "pseudonymise", "ssn": "pseudonymise", "card": "drop", "age": "band",
        "postcode": "prefix", "date_of_birth": "year", "sex": "keep", "income": "keep"}
    assert quasi == ["age", "postcode", "date_of_birth", "sex"]


COLUMNS = ["email", "age", "postcode", "note"]
PII = {"email": ["email"]}


@pytest.mark.parametrize("rules, quasi, column, message", [
    ({"email": {"action": "explode"}}, [], "email", "Choose one of"),
    ({"email": "drop"}, [], "email", "Choose one of"),
    ({"email": {"action": "keep"}}, [], "email", "found email"),
    ({"email": {"action": "drop"}, "age": {"action": "band", "param": 0}}, [], "age", "between 1 and"),
    ({"email": {"action": "drop"}, "age": {"action": "band", "param": "ten"}}, [], "age", "whole number"),
    ({"email": {"action": "drop"}, "age": {"action": "band", "param": True}}, [], "age", "whole number"),
    ({"email": {"action": "mask", "param": 99}}, [], "email", "between 0 and 8"),
    ({"email": {"action": "drop"}, "secret": {"action": "drop"}}, [], "", "Unknown columns: secret"),
    ({"email": {"action": "drop"}}, ["email"], "email", "dropped column"),
    ({"email": {"action": "drop"}}, ["nope"], "", "not a column"),
    ({c: {"action": "drop"} for c in COLUMNS}, [], "", "Every column would be dropped"),
    ("not a mapping", [], "", "must map"),
])
def test_bad_requests_are_refused_with_the_column_named(rules, quasi, column, message):
    with pytest.raises(RuleError) as caught:
        core.clean_rules(rules, COLUMNS, quasi, pii=PII)
    assert message in " ".join(caught.value.errors.get(column, []))


def test_nothing_to_do_is_refused():
    with pytest.raises(RuleError, match="Nothing would change"):
        core.clean_rules({}, ["age"], [])


def test_a_good_request_is_cleaned_with_defaults():
    rules, quasi = core.clean_rules(
        {"email": {"action": "pseudonymise", "param": 5}, "age": {"action": "band", "param": ""},
         "postcode": {"action": "prefix", "param": "2"}}, COLUMNS, ["age", "postcode", "age"], pii=PII)
    assert rules["email"] == ColumnRule("pseudonymise", None)
    assert rules["age"] == ColumnRule("band", 10) and rules["postcode"] == ColumnRule("prefix", 2)
    assert rules["note"] == ColumnRule("keep", None) and quasi == ["age", "postcode"]
