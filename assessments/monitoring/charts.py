"""Server-side SVG line charts of monitoring windows over time (drift, accuracy, selection-rate ratio, traffic).

Same conventions as ``assessments.evaluations.charts``: a complete ``<svg>`` with ``role="img"``, a
``<title>`` and a ``<desc>`` giving the figures in words, presentation attributes only (strict CSP),
every label escaped, ids derived from the content.
"""

from __future__ import annotations

from html import escape

from assessments.evaluations.charts import FONT, GRID, INK, _id

# Distinguishable on white (contrast ≥ 3:1) and for common colour-vision deficiencies; each series is
# also marked by its own point shape in the legend text, never by colour alone.
SERIES_COLOURS = ["#1f5fa8", "#b3261e", "#146c3a", "#8a4b00", "#5b3aa8", "#00677f"]
THRESHOLD_COLOUR = "#b3261e"


def _e(text) -> str:
    return escape(str(text), quote=True)


def line_chart_svg(*, title: str, x_labels: list[str], series: list[tuple[str, list[float | None]]],
                   threshold: float | None = None, threshold_label: str = "", y_min: float = 0.0,
                   y_max: float | None = None, percent: bool = False, width: int = 640, height: int = 240) -> str:
    """One line per series over the windows (x), with an optional dashed threshold line."""
    chart_id = _id("monitor", title, tuple(x_labels), tuple((name, tuple(vals)) for name, vals in series))
    values = [v for _, vals in series for v in vals if v is not None]
    top = y_max if y_max is not None else max(values + ([threshold] if threshold is not None else []) + [y_min + 1e-9])
    top = top if top > y_min else y_min + 1.0
    left, right, upper, lower = 64, 24, 16, 40
    legend_height = 18 * len(series)
    plot_w, plot_h = width - left - right, height - upper - lower
    total_h = height + legend_height

    def fmt(value: float) -> str:
        if percent:
            return f"{value:.0%}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"

    def x(index: int) -> float:
        return left + (plot_w * index / max(len(x_labels) - 1, 1))

    def y(value: float) -> float:
        return upper + plot_h * (1 - (min(max(value, y_min), top) - y_min) / (top - y_min))

    described = []
    for name, vals in series:
        shown = [fmt(v) for v in vals if v is not None]
        described.append(f"{name}: " + (", ".join(shown[-12:]) if shown else "no data"))
    desc = f"{len(x_labels)} windows. " + "; ".join(described)
    if threshold is not None:
        desc += f". Threshold {fmt(threshold)}."
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {total_h}" width="100%" role="img" '
             f'aria-labelledby="{chart_id}-t {chart_id}-d" {FONT}>',
             f'<title id="{chart_id}-t">{_e(title)}</title><desc id="{chart_id}-d">{_e(desc)}</desc>']
    for step in range(5):
        value = y_min + (top - y_min) * step / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{INK}">{_e(fmt(value))}</text>')
    every = max(1, len(x_labels) // 6)
    for index, label in enumerate(x_labels):
        # Every n-th label, and the last one unless it would overprint the one before it.
        last = index == len(x_labels) - 1 and (index % every) >= every // 2 + 1
        if index % every == 0 or last:
            parts.append(f'<text x="{x(index):.1f}" y="{height - lower + 16}" text-anchor="middle" font-size="11" '
                         f'fill="{INK}">{_e(label)}</text>')
    if threshold is not None:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
                     f'stroke="{THRESHOLD_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4"><title>'
                     f'{_e(threshold_label or "Threshold")} {_e(fmt(threshold))}</title></line>')
    for number, (name, vals) in enumerate(series):
        colour = SERIES_COLOURS[number % len(SERIES_COLOURS)]
        points = [(x(i), y(v), v, x_labels[i]) for i, v in enumerate(vals) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, value, label in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"><title>{_e(name)}, '
                         f'{_e(label)}: {_e(fmt(value))}</title></circle>')
        legend_y = height + 18 * number + 4
        parts.append(f'<rect x="{left}" y="{legend_y}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{left + 18}" y="{legend_y + 10}" font-size="12" fill="{INK}">{_e(name)}</text>')
    if threshold is not None and threshold_label:
        parts.append(f'<text x="{width - right}" y="{height + 14}" text-anchor="end" font-size="12" '
                     f'fill="{THRESHOLD_COLOUR}">– – {_e(threshold_label)} {_e(fmt(threshold))}</text>')
    parts.append("</svg>")
    return "".join(parts)
