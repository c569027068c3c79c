"""De-identifying a table, chunk by chunk (no Django here: the service and the benchmark call it).

Per column, one action:

``keep``          the column as it is;
``drop``          the column is left out of the copy;
``mask``          letters and digits become ``*`` except the last ``param`` characters (only when the
                  value is more than twice as long); an e-mail address keeps its domain only;
``pseudonymise``  ``ps_`` + 20 hex digits of HMAC-SHA256 under the pseudonymisation key of the value
                  (trimmed, case-folded): the same value gets the same pseudonym in every file
                  de-identified under the same key, and a different one under another key;
``year``          a date becomes its year (dates of birth, admission dates);
``band``          a number becomes a band of ``param`` (ages 37 → ``30-39``);
``prefix``        a postcode becomes its outward code (the part before a space) or, with no space,
                  its first ``param`` characters (``94107`` → ``941``);
``network``       an IP address becomes its network (``192.168.4.17`` → ``192.168.4.x``).

Missing values stay missing. CSV files are read with every value as text, so columns that are kept
come out exactly as they went in (leading zeros included). The k-anonymity of the copy is counted
over the quasi-identifiers that the user marks, after the actions are applied: the size of the
smallest group of rows that share the same quasi-identifier values.
"""

from __future__ import annotations

import hmac
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ACTIONS = {
    "keep": "Keep as is",
    "drop": "Drop the column",
    "mask": "Mask (keep the last characters)",
    "pseudonymise": "Pseudonymise (keyed hash, stable across files)",
    "year": "Generalise: date → year",
    "band": "Generalise: number → band",
    "prefix": "Generalise: postcode → prefix",
    "network": "Generalise: IP address → network",
}
# (lowest, highest, default) for the actions that take a number.
PARAMS = {"mask": (0, 8, 0), "band": (1, 1_000_000, 10), "prefix": (1, 10, 3)}
TRANSFORMING = set(ACTIONS) - {"keep"}

# What the dataset scan's kinds of personal data get unless the user chooses otherwise.
DEFAULT_BY_KIND: dict[str, tuple[str, int | None]] = {
    "card": ("drop", None),  # PCI DSS: no reason to keep a card number in training data
    "ssn": ("pseudonymise", None),  # often the join key between files
    "email": ("pseudonymise", None),
    "iban": ("mask", 4),
    "phone": ("mask", 2),
    "name": ("drop", None),
    "dob": ("year", None),
    "ip": ("network", None),
}
# Kinds that identify a person on their own: a copy may not keep them unchanged.
DIRECT_IDENTIFIERS = {"card", "ssn", "email", "iban", "phone"}
# The stricter action wins when a column holds several kinds.
_STRICTNESS = ["keep", "network", "prefix", "band", "year", "mask", "pseudonymise", "drop"]
# Columns that are typical quasi-identifiers, by name: suggested actions and marked by default.
_QUASI_HINTS: list[tuple[re.Pattern, tuple[str, int | None]]] = [
    (re.compile(r"(birth|dob|born)", re.I), ("year", None)),
    (re.compile(r"(^age$|_age$|^age_|age_?years)", re.I), ("band", 10)),
    (re.compile(r"(post_?code|zip|postal|postleitzahl|^plz$)", re.I), ("prefix", 3)),
    (re.compile(r"(^sex$|gender|_sex$)", re.I), ("keep", None)),
]

PSEUDONYM_PREFIX = "ps_"
PSEUDONYM_HEX = 20
MAX_QUASI_IDENTIFIERS = 10
SMALL_CLASS = 5  # groups smaller than this are listed as at risk of re-identification


class RuleError(ValueError):
    """A de-identification request that cannot be carried out; ``errors`` maps column (or "") to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{column or 'request'}: {' '.join(texts)}" for column, texts in errors.items()))


@dataclass(frozen=True)
class ColumnRule:
    action: str
    param: int | None = None

    def to_dict(self) -> dict:
        return {"action": self.action, "param": self.param}


def suggest(columns: Iterable[str], pii: dict[str, list[str]]) -> tuple[dict[str, ColumnRule], list[str]]:
    """Default rules for every column and the default quasi-identifiers, from the scan's findings
    (``pii``: column → kinds of personal data found) and the column names."""
    rules: dict[str, ColumnRule] = {}
    quasi: list[str] = []
    for column in columns:
        chosen = ("keep", None)
        for kind in pii.get(column, ()):
            candidate = DEFAULT_BY_KIND.get(kind, ("drop", None))
            if _STRICTNESS.index(candidate[0]) > _STRICTNESS.index(chosen[0]):
                chosen = candidate
        hinted = next((action for pattern, action in _QUASI_HINTS if pattern.search(column)), None)
        if hinted is not None:
            if chosen[0] == "keep":
                chosen = hinted
            if chosen[0] not in ("drop", "pseudonymise"):
                quasi.append(column)
        elif pii.get(column) and chosen[0] in ("year", "network"):
            quasi.append(column)
        rules[column] = ColumnRule(*chosen)
    return rules, quasi


def clean_rules(
    raw: dict, columns: list[str], quasi_identifiers: Iterable[str], *, pii: dict[str, list[str]] | None = None
) -> tuple[dict[str, ColumnRule], list[str]]:
    """Check a request from a form or the API: every column known, every action and number valid, a
    quasi-identifier never dropped, directly identifying columns never kept. Raises ``RuleError``."""
    errors: dict[str, list[str]] = {}
    pii = pii or {}
    if not isinstance(raw, dict):
        raise RuleError({"": ["The rules must map column names to actions."]})
    unknown = [str(name) for name in raw if name not in columns]
    if unknown:
        errors.setdefault("", []).append(f"Unknown columns: {', '.join(sorted(unknown)[:10])}.")
    rules: dict[str, ColumnRule] = {}
    for column in columns:
        spec = raw.get(column) or {"action": "keep"}
        action = spec.get("action") if isinstance(spec, dict) else None
        if action not in ACTIONS:
            errors.setdefault(column, []).append(f"Choose one of: {', '.join(ACTIONS)}.")
            continue
        param = spec.get("param")
        if action in PARAMS:
            low, high, default = PARAMS[action]
            if param in (None, ""):
                param = default
            if isinstance(param, bool) or not isinstance(param, int | str):
                errors.setdefault(column, []).append("The number must be a whole number.")
                continue
            try:
                param = int(param)
            except ValueError:
                errors.setdefault(column, []).append("The number must be a whole number.")
                continue
            if not low <= param <= high:
                errors.setdefault(column, []).append(f"The number must be between {low} and {high}.")
                continue
        else:
            param = None
        direct = sorted(set(pii.get(column, ())) & DIRECT_IDENTIFIERS)
        if action == "keep" and direct:
            errors.setdefault(column, []).append(
                f"The dataset scan found {', '.join(direct)} in this column: drop, mask or pseudonymise it."
            )
            continue
        rules[column] = ColumnRule(action, param)
    quasi = list(dict.fromkeys(str(name) for name in quasi_identifiers or ()))
    for name in quasi:
        if name not in columns:
            errors.setdefault("", []).append(f"Quasi-identifier {name!r} is not a column of the file.")
        elif name in rules and rules[name].action == "drop":
            errors.setdefault(name, []).append("A dropped column cannot be a quasi-identifier.")
    if len(quasi) > MAX_QUASI_IDENTIFIERS:
        errors.setdefault("", []).append(f"Mark at most {MAX_QUASI_IDENTIFIERS} quasi-identifiers.")
    if not errors:
        if all(rule.action == "drop" for rule in rules.values()):
            errors[""] = ["Every column would be dropped: keep at least one."]
        elif all(rule.action == "keep" for rule in rules.values()):
            errors[""] = ["Nothing would change: choose an action for at least one column."]
    if errors:
        raise RuleError(errors)
    return rules, quasi


# --- the actions --------------------------------------------------------------------------------------------------

class Pseudonymiser:
    """Keyed pseudonyms, remembered per distinct value (most columns repeat values)."""

    CACHE_LIMIT = 2_000_000

    def __init__(self, key: bytes, key_id: str = ""):
        if len(key) < 16:
            raise ValueError("the pseudonymisation key must be at least 16 bytes")
        self._key = key
        self.key_id = key_id
        self._cache: dict[str, str] = {}

    def one(self, value: str) -> str:
        normalised = value.strip().casefold()
        if not normalised:
            return ""
        cached = self._cache.get(normalised)
        if cached is None:
            digest = hmac.digest(self._key, b"warden-pseudonym-v1\x00" + normalised.encode("utf-8"), "sha256")
            cached = PSEUDONYM_PREFIX + digest.hex()[:PSEUDONYM_HEX]
            if len(self._cache) >= self.CACHE_LIMIT:
                self._cache.clear()
            self._cache[normalised] = cached
        return cached

    def series(self, values: pd.Series) -> pd.Series:
        uniques = pd.unique(values)
        one = self.one
        mapping = {value: one(value) for value in uniques}
        return values.map(mapping)


def _as_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The values as Python strings, and where they were missing."""
    missing = values.isna()
    text = values.astype(object).where(~missing, "").astype(str)
    return text, missing


# Letters and digits of any script (RE2 syntax, so pandas runs it in Arrow rather than row by row).
_ALNUM = r"[\pL\pN]"


def _arrow(values: pd.Series) -> pd.Series:
    """Strings backed by Arrow: the regular expressions below run in RE2 (Unicode classes, no Python loop)."""
    return values if values.dtype == _ARROW_STRING else values.astype(_ARROW_STRING)


_ARROW_STRING = pd.StringDtype("pyarrow")


def mask(values: pd.Series, keep_last: int = 0) -> pd.Series:
    values = _arrow(values)
    hidden = values.str.replace(_ALNUM, "*", regex=True)
    if keep_last:
        lengths = values.str.len()
        tail = values.str.slice(-keep_last)
        head = hidden.str.slice(0, -keep_last)
        hidden = hidden.where(lengths <= 2 * keep_last, head + tail)
    if values.str.contains("@", regex=False).any():
        local_domain = values.str.extract(r"^(.*?)(@[^@\s]+)$")
        is_email = local_domain[1].notna()
        emails = local_domain[0].where(is_email, "").str.replace(_ALNUM, "*", regex=True) + local_domain[1]
        hidden = hidden.where(~is_email, emails)
    return hidden


def year(values: pd.Series) -> pd.Series:
    values = _arrow(values)
    return values.str.extract(r"(?:^|[^0-9])([0-9]{4})(?:[^0-9]|$)")[0].fillna("")


def band(values: pd.Series, width: int = 10) -> pd.Series:
    values = _arrow(values)
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    low = np.floor(numbers / width) * width
    valid = low.notna() & np.isfinite(low)
    low = low.where(valid, 0).astype("int64")
    if width == 1:
        labels = low.astype(str)
    else:
        labels = low.astype(str) + "-" + (low + width - 1).astype(str)
    return labels.where(valid, "")


def prefix(values: pd.Series, length: int = 3) -> pd.Series:
    values = _arrow(values)
    stripped = values.str.strip()
    outward = stripped.str.replace(r"\s.*$", "", regex=True)
    has_space = stripped.str.contains(" ", regex=False)
    return outward.where(has_space, stripped.str.slice(0, length)).str.upper()


_IPV4 = re.compile(r"^\s*(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\s*$")


def network(values: pd.Series) -> pd.Series:
    values = _arrow(values)
    v4 = values.str.extract(_IPV4)[0]
    v6_parts = values.where(values.str.contains(":", regex=False) & v4.isna(), "").str.strip().str.split(":")
    v6 = v6_parts.map(lambda parts: ":".join(parts[:3]) + ":x" if isinstance(parts, list) and len(parts) > 2 else "")
    return (v4 + ".x").where(v4.notna(), v6)


def apply_rules(frame: pd.DataFrame, rules: dict[str, ColumnRule], pseudonymiser: Pseudonymiser | None) -> pd.DataFrame:
    """One chunk de-identified: dropped columns left out, the others transformed in their order."""
    out = {}
    for column in frame.columns:
        rule = rules.get(column, ColumnRule("keep"))
        if rule.action == "drop":
            continue
        if rule.action == "keep":
            out[column] = frame[column]
            continue
        text, missing = _as_text(frame[column])
        if rule.action == "mask":
            result = mask(text, rule.param or 0)
        elif rule.action == "pseudonymise":
            if pseudonymiser is None:
                raise ValueError("pseudonymising needs a key")
            result = pseudonymiser.series(text)
        elif rule.action == "year":
            result = year(text)
        elif rule.action == "band":
            result = band(text, rule.param or PARAMS["band"][2])
        elif rule.action == "prefix":
            result = prefix(text, rule.param or PARAMS["prefix"][2])
        elif rule.action == "network":
            result = network(text)
        else:  # clean_rules lets nothing else through
            raise ValueError(f"unknown action {rule.action!r}")
        out[column] = result.astype(object).where(~missing, None) if missing.any() else result
    return pd.DataFrame(out, index=frame.index)


# --- k-anonymity ----------------------------------------------------------------------------------------------------

MISSING_KEY = "\x00missing"


class KAnonymity:
    """Group sizes over the quasi-identifiers, accumulated chunk by chunk."""

    COMBINE_EVERY = 20

    def __init__(self, quasi_identifiers: list[str]):
        self.columns = list(quasi_identifiers)
        self._parts: list[pd.Series] = []
        self._combined: pd.Series | None = None

    def update(self, frame: pd.DataFrame) -> None:
        if not self.columns or frame.empty:
            return
        keys = frame[self.columns].astype(object).where(frame[self.columns].notna(), MISSING_KEY).astype(str)
        self._parts.append(keys.groupby(self.columns, sort=False).size())
        if len(self._parts) >= self.COMBINE_EVERY:
            self._combine()

    def _combine(self) -> pd.Series:
        parts = ([self._combined] if self._combined is not None else []) + self._parts
        self._parts = []
        if parts:
            joined = pd.concat(parts)
            self._combined = joined.groupby(level=list(range(joined.index.nlevels)), sort=False).sum()
        return self._combined

    def result(self) -> dict:
        sizes = self._combine()
        if sizes is None or sizes.empty:
            return {"quasi_identifiers": self.columns, "k": None, "classes": 0, "rows_in_small_classes": 0,
                    "small_classes": 0, "small_class_limit": SMALL_CLASS}
        small = sizes[sizes < SMALL_CLASS]
        return {
            "quasi_identifiers": self.columns,
            "k": int(sizes.min()),
            "classes": int(len(sizes)),
            "small_classes": int(len(small)),
            "rows_in_small_classes": int(small.sum()),
            "small_class_limit": SMALL_CLASS,
        }


# --- streaming a whole file ----------------------------------------------------------------------------------------

@dataclass
class DeidentifyResult:
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    k_anonymity: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "columns": self.columns, "dropped": self.dropped,
                "k_anonymity": self.k_anonymity}


Progress = Callable[[int], None]


def deidentify_csv(source, sink, *, rules, quasi_identifiers, pseudonymiser, chunk_rows=100_000,
                   progress: Progress | None = None) -> DeidentifyResult:
    """Read CSV from the binary file ``source`` and write the de-identified CSV to the binary ``sink``."""
    result = DeidentifyResult()
    counter = KAnonymity(quasi_identifiers)
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
    try:
        reader = pd.read_csv(source, dtype=str, keep_default_na=False, na_filter=False, chunksize=chunk_rows,
                             encoding="utf-8")
        first = True
        for chunk in reader:
            out = apply_rules(chunk, rules, pseudonymiser)
            if first:
                result.columns = list(out.columns)
                result.dropped = [column for column in chunk.columns if column not in out.columns]
            out.to_csv(text, header=first, index=False, lineterminator="\n")
            first = False
            counter.update(out)
            result.rows += len(out)
            if progress:
                progress(result.rows)
        text.flush()
    finally:
        text.detach()  # the caller closes the sink
    result.k_anonymity = counter.result()
    return result


def deidentify_parquet(source, sink, *, rules, quasi_identifiers, pseudonymiser, chunk_rows=100_000,
                       progress: Progress | None = None) -> DeidentifyResult:
    """The same for Parquet, one record batch at a time; transformed columns become strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    result = DeidentifyResult()
    counter = KAnonymity(quasi_identifiers)
    parquet = pq.ParquetFile(source)
    schema_fields = []
    for arrow_field in parquet.schema_arrow:
        rule = rules.get(arrow_field.name, ColumnRule("keep"))
        if rule.action == "drop":
            result.dropped.append(arrow_field.name)
        elif rule.action == "keep":
            schema_fields.append(arrow_field)
        else:
            schema_fields.append(pa.field(arrow_field.name, pa.string()))
    schema = pa.schema(schema_fields)
    result.columns = schema.names
    writer = pq.ParquetWriter(sink, schema)
    try:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            out = apply_rules(batch.to_pandas(), rules, pseudonymiser)
            writer.write_table(pa.Table.from_pandas(out, schema=schema, preserve_index=False))
            counter.update(out)
            result.rows += len(out)
            if progress:
                progress(result.rows)
    finally:
        writer.close()
    result.k_anonymity = counter.result()
    return result
