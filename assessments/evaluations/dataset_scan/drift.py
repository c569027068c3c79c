"""Drift between two versions of a dataset: population stability index and Kolmogorov–Smirnov.

A scan keeps a small *profile* of every column (``numeric_profile``, ``categorical_profile``): 101
quantiles of a numeric column, the frequencies of a categorical one (values hashed, so a profile
stored as evidence carries no raw data). The next version's scan compares its profiles with the
previous version's:

* numeric columns: PSI over ten bins cut at the previous version's deciles, and the KS statistic
  (the largest gap between the two cumulative distributions), both computed from the quantiles;
* categorical columns: PSI over the categories (the rarest pooled as "other").

Thresholds are the usual ones: PSI below 0.1 is stable, 0.1–0.25 a moderate shift, above 0.25 a
significant one; KS above 0.1 is a noticeable and above 0.2 a large difference. ``psi`` and
``ks_statistic`` also work on raw samples (tests check them against ``scipy.stats.ks_2samp``).
"""

from __future__ import annotations

import hashlib

import numpy as np

QUANTILES = np.linspace(0.0, 1.0, 101)
PSI_EPSILON = 1e-4
TOP_CATEGORIES = 100
PSI_MODERATE, PSI_SIGNIFICANT = 0.1, 0.25
KS_NOTICEABLE, KS_LARGE = 0.1, 0.2


# --- raw-sample versions ---------------------------------------------------------------------------------------

def ks_statistic(a, b) -> float:
    """The two-sample Kolmogorov–Smirnov statistic: max |F_a(x) - F_b(x)| over all x."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    if not len(a) or not len(b):
        return 0.0
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def psi_from_proportions(expected, actual) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)), with empty bins floored at a tiny share."""
    expected = np.clip(np.asarray(expected, dtype=float), PSI_EPSILON, None)
    actual = np.clip(np.asarray(actual, dtype=float), PSI_EPSILON, None)
    expected, actual = expected / expected.sum(), actual / actual.sum()
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi(expected_sample, actual_sample, bins: int = 10) -> float:
    """PSI of two numeric samples, over bins cut at the expected sample's quantiles."""
    expected_sample = np.asarray(expected_sample, dtype=float)
    actual_sample = np.asarray(actual_sample, dtype=float)
    edges = np.unique(np.quantile(expected_sample, np.linspace(0, 1, bins + 1))[1:-1])
    expected = np.bincount(np.searchsorted(edges, expected_sample, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, actual_sample, side="right"), minlength=len(edges) + 1)
    return psi_from_proportions(expected / expected.sum(), actual / actual.sum())


def psi_categorical(expected_counts: dict, actual_counts: dict) -> float:
    keys = sorted(set(expected_counts) | set(actual_counts))
    expected = np.array([expected_counts.get(key, 0) for key in keys], dtype=float)
    actual = np.array([actual_counts.get(key, 0) for key in keys], dtype=float)
    if not expected.sum() or not actual.sum():
        return 0.0
    return psi_from_proportions(expected / expected.sum(), actual / actual.sum())


# --- profiles --------------------------------------------------------------------------------------------------

def numeric_profile(sample, count: int) -> dict:
    sample = np.asarray(sample, dtype=float)
    sample = sample[np.isfinite(sample)]
    if not len(sample):
        return {"type": "empty", "count": count}
    return {"type": "numeric", "count": int(count), "quantiles": [float(q) for q in np.quantile(sample, QUANTILES)]}


def category_key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def categorical_profile(counts: dict[str, int], count: int, *, complete: bool) -> dict:
    """The frequencies of the most common values (hashed), the rest pooled as "other"."""
    top = sorted(counts.items(), key=lambda item: -item[1])[:TOP_CATEGORIES]
    kept = {category_key(value): int(n) for value, n in top}
    return {"type": "categorical", "count": int(count), "frequencies": kept,
            "other": int(count - sum(kept.values())), "complete": complete}


def _cdf_from_quantiles(quantiles, points, *, left: bool = False) -> np.ndarray:
    """The cumulative distribution at ``points``, from a column's 101 quantiles.

    Right-continuous like an empirical CDF: at a value that holds several quantiles (a tie) it is the
    highest of their probabilities (the lowest with ``left``: the share strictly below the value);
    between two distinct values it rises linearly.
    """
    quantiles = np.asarray(quantiles, dtype=float)
    points = np.asarray(points, dtype=float)
    values = np.unique(quantiles)
    p_low = QUANTILES[np.searchsorted(quantiles, values, side="left")]
    p_high = QUANTILES[np.searchsorted(quantiles, values, side="right") - 1]
    index = np.searchsorted(values, points, side="right") - 1
    result = np.zeros(len(points))
    inside = index >= 0
    at_value = inside & (values[np.clip(index, 0, None)] == points)
    result[at_value] = (p_low if left else p_high)[index[at_value]]
    above = inside & ~at_value & (index == len(values) - 1)
    result[above] = 1.0
    between = inside & ~at_value & ~above
    i = index[between]
    x0, x1 = values[i], values[i + 1]
    y0, y1 = p_high[i], p_low[i + 1]
    result[between] = y0 + (points[between] - x0) / (x1 - x0) * (y1 - y0)
    return result


def ks_from_quantiles(expected_quantiles, actual_quantiles) -> float:
    """KS statistic of two columns known by their quantiles (within about 0.01 of the exact value)."""
    points = np.union1d(expected_quantiles, actual_quantiles)
    gap = np.abs(_cdf_from_quantiles(expected_quantiles, points) - _cdf_from_quantiles(actual_quantiles, points))
    return float(gap.max()) if len(gap) else 0.0


def psi_from_quantiles(expected_quantiles, actual_quantiles, bins: int = 10) -> float:
    expected_quantiles = np.asarray(expected_quantiles, dtype=float)
    edges = np.unique(expected_quantiles[np.linspace(0, 100, bins + 1).astype(int)][1:-1])
    # Bins closed on the left, [edge, next edge), as in ``psi``: the share strictly below each edge.
    cuts = np.concatenate([[0.0], _cdf_from_quantiles(expected_quantiles, edges, left=True), [1.0]])
    expected = np.diff(cuts)
    cuts = np.concatenate([[0.0], _cdf_from_quantiles(actual_quantiles, edges, left=True), [1.0]])
    actual = np.diff(cuts)
    return psi_from_proportions(expected, actual)


def categorical_psi_from_profiles(expected: dict, actual: dict) -> float:
    def counts(profile):
        result = dict(profile.get("frequencies", {}))
        result["__other__"] = profile.get("other", 0)
        return result

    return psi_categorical(counts(expected), counts(actual))


def compare_profiles(previous: dict, current: dict, *, previous_columns: list[str] | None = None,
                     current_columns: list[str] | None = None) -> dict:
    """Per column: PSI (and KS for numeric columns) between two scans' profiles; plus schema changes, from
    the two versions' column names when given (profiles leave out columns with personal data)."""
    columns = {}
    for name, now in current.items():
        before = previous.get(name)
        if before is None or before.get("type") != now.get("type") or now.get("type") not in ("numeric", "categorical"):
            continue
        if now["type"] == "numeric":
            columns[name] = {
                "type": "numeric",
                "psi": round(psi_from_quantiles(before["quantiles"], now["quantiles"]), 4),
                "ks": round(ks_from_quantiles(before["quantiles"], now["quantiles"]), 4),
            }
        else:
            columns[name] = {"type": "categorical",
                             "psi": round(categorical_psi_from_profiles(before, now), 4)}
    return {
        "columns": columns,
        "added": sorted(set(current_columns or current) - set(previous_columns or previous)),
        "removed": sorted(set(previous_columns or previous) - set(current_columns or current)),
    }


def drift_level(result: dict) -> str | None:
    """None (stable), "moderate" or "significant" for one column's comparison."""
    psi_value, ks_value = result.get("psi", 0.0), result.get("ks", 0.0)
    if psi_value >= PSI_SIGNIFICANT or ks_value >= KS_LARGE:
        return "significant"
    if psi_value >= PSI_MODERATE or ks_value >= KS_NOTICEABLE:
        return "moderate"
    return None
