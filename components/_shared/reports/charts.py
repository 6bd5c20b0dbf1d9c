"""Tiny inline SVG charts for the HTML reports: no JavaScript, no external assets, text escaped.

Two pictures, each about 240 by 60 px, each an `<svg role="img">` whose `<title>` and
`aria-label` say its numbers in words (a screen reader, or a hover, gets what the eye gets):

- `distribution_pair`: reference vs current shares of one column, as histogram bins (numbers,
  the same edges on both sides) or category shares (the top categories and "other"); build
  the `Distribution` with `numeric_distribution` or `categorical_distribution`.
- `daily_series`: per-day values of one or more metrics, each bound drawn as a dashed line;
  a missing day (None or NaN) is a gap in the line.

Every coordinate is finite (no NaN reaches the markup) and every text from data goes through
`html.escape` after characters XML cannot hold are replaced, so the SVG parses as XML.
"""

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

WIDTH, HEIGHT = 240, 60
# Bounded so 1,000 columns fit in a few MB: numbers merge neighbouring bins, categories
# beyond the top ones are summed as "other".
MAX_BINS = 20
MAX_CATEGORIES = 10
OTHER = "(other)"
# A category name is cut to this many characters in a chart's words.
MAX_LABEL_CHARS = 40
REFERENCE_COLOUR, CURRENT_COLOUR = "#9e9e9e", "#1f6fb4"
SERIES_COLOURS = ("#1f6fb4", "#d35400", "#7d3c98", "#16a085", "#c0392b", "#2c3e50")
_AXIS_PX = 9  # font size of a numeric chart's range, under its bars
_PAD = 2  # px kept free around the plot, so lines at the edges are not clipped
# XML 1.0 allows tab, LF, CR and most other characters; html.escape leaves these alone.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Distribution:
    """One column's reference and current shares over the same bins or categories."""

    labels: tuple[str, ...]  # "[a, b)" per bin, or category names (and OTHER)
    reference: tuple[float, ...]  # shares in [0, 1]; all 0 when the side has no values
    current: tuple[float, ...]
    numeric: bool
    reference_total: int = 0  # values counted on each side
    current_total: int = 0
    range_labels: tuple[str, str] | None = None  # numbers: the first and the last edge


def text(value: object, limit: int | None = None) -> str:
    """Data as SVG/HTML text: cut to `limit` characters, non-XML characters replaced, escaped."""
    raw = str(value)
    if limit is not None and len(raw) > limit:
        raw = raw[: limit - 1] + "…"
    return html.escape(_NOT_XML.sub("\ufffd", raw), quote=True)


def _number(value: float) -> str:
    return f"{value:.3g}"


def _edge_labels(edges: Sequence[float]) -> list[str]:
    """Edges with as few significant digits (3 or more) as keep neighbours apart (1e6 ± 1)."""
    for digits in range(3, 18):
        labels = [f"{e:.{digits}g}" for e in edges]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def _shares(counts) -> tuple[tuple[float, ...], int]:
    clean = np.asarray(counts, dtype=float).reshape(-1)
    clean = np.where(np.isfinite(clean) & (clean > 0), clean, 0.0)
    total = float(clean.sum())
    if total <= 0:
        return (0.0,) * len(clean), 0
    return tuple((clean / total).tolist()), round(total)


def numeric_distribution(
    edges: Sequence[float], reference: Sequence[float], current: Sequence[float]
) -> Distribution:
    """Histogram shares of both sides on the same `edges` (len(edges) - 1 counts each).

    More than MAX_BINS bins are merged by neighbours (every k-th edge kept), so both sides
    still share their edges.

    Args:
        edges: Increasing bin edges, finite.
        reference: Reference counts per bin.
        current: Current counts per bin.

    Returns:
        The Distribution, at most MAX_BINS bins.

    Raises:
        ValueError: When the counts do not match the edges, or an edge is not finite.
    """
    edges = [float(e) for e in edges]
    if len(edges) < 2 or len(reference) != len(edges) - 1 or len(current) != len(edges) - 1:
        raise ValueError(
            f"numeric_distribution needs n + 1 edges for n counts per side; got {len(edges)} "
            f"edges, {len(reference)} reference and {len(current)} current counts"
        )
    if not all(math.isfinite(e) for e in edges):
        raise ValueError("numeric_distribution needs finite edges; drop ±inf/NaN values first")
    step = math.ceil((len(edges) - 1) / MAX_BINS)
    keep = [*range(0, len(edges) - 1, step), len(edges) - 1]
    ref = [sum(reference[a:b]) for a, b in pairwise(keep)]
    cur = [sum(current[a:b]) for a, b in pairwise(keep)]
    kept = _edge_labels([edges[i] for i in keep])
    last = len(kept) - 2
    labels = tuple(
        f"[{a}, {b}{']' if i == last else ')'}" for i, (a, b) in enumerate(pairwise(kept))
    )
    ref_shares, ref_total = _shares(ref)
    cur_shares, cur_total = _shares(cur)
    return Distribution(
        labels, ref_shares, cur_shares, True, ref_total, cur_total, (kept[0], kept[-1])
    )


def categorical_distribution(
    keys: Sequence[object], reference: Sequence[float], current: Sequence[float]
) -> Distribution:
    """Category shares of both sides: the MAX_CATEGORIES largest (by either side), then OTHER.

    Args:
        keys: Category values (any type; shown as `str()`), aligned with the counts.
        reference: Reference count per key.
        current: Current count per key.

    Returns:
        The Distribution, largest categories first (ties in key order), at most
        MAX_CATEGORIES + 1 entries.

    Raises:
        ValueError: When the counts are not aligned with the keys.
    """
    if len(reference) != len(keys) or len(current) != len(keys):
        raise ValueError(
            f"categorical_distribution needs one count per key and side; got {len(keys)} keys, "
            f"{len(reference)} reference and {len(current)} current counts"
        )
    ref_shares, ref_total = _shares(reference)
    cur_shares, cur_total = _shares(current)
    ref_all, cur_all = np.asarray(ref_shares), np.asarray(cur_shares)
    # numpy, not sorted(): a text column may hold up to 100,000 categories.
    order = np.argsort(-np.maximum(ref_all, cur_all), kind="stable")
    top, rest = order[:MAX_CATEGORIES], order[MAX_CATEGORIES:]
    labels = [str(keys[i]) for i in top]
    ref, cur = ref_all[top].tolist(), cur_all[top].tolist()
    if len(rest):
        labels.append(OTHER)
        ref.append(float(ref_all[rest].sum()))
        cur.append(float(cur_all[rest].sum()))
    return Distribution(tuple(labels), tuple(ref), tuple(cur), False, ref_total, cur_total)


def _percent(share: float) -> str:
    if share == 0:
        return "0%"
    return "<1%" if share < 0.01 else f"{share:.0%}"


def _distribution_words(name: str, d: Distribution) -> str:
    kind = "bins" if d.numeric else "categories"
    head = (
        f"{name[: 2 * MAX_LABEL_CHARS]}: reference ({d.reference_total} values) "
        f"vs current ({d.current_total}) by {kind}"
    )
    parts = [
        f"{label[:MAX_LABEL_CHARS]} {_percent(r)} vs {_percent(c)}"
        for label, r, c in zip(d.labels, d.reference, d.current, strict=True)
    ]
    return head + ("; " + "; ".join(parts) if parts else "; no values")


def _svg(words: str, body: str) -> str:
    label = text(words)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">'
        f"<title>{label}</title>{body}</svg>"
    )


def _bars(shares: Sequence[float], top: float, x0: float, slot: float, base: float) -> str:
    """One path of bars (one `M` per non-empty bar), heights scaled so `top` fills the plot."""
    width = max(slot * 0.42, 0.5)
    moves = []
    for i, share in enumerate(shares):
        h = (base - _PAD) * share / top
        if h > 0:
            x = x0 + i * slot
            moves.append(f"M{x:.1f} {base}h{width:.1f}v-{h:.1f}h-{width:.1f}z")
    return "".join(moves)


def _range_text(d: Distribution) -> str:
    """The first and last bin edge under a numeric chart's bars, so its bars have a scale."""
    low, high = (text(edge, MAX_LABEL_CHARS // 2) for edge in d.range_labels)
    y = HEIGHT - _PAD
    return (
        f'<text x="{_PAD}" y="{y}" font-size="{_AXIS_PX}" fill="#555">{low}</text>'
        f'<text x="{WIDTH - _PAD}" y="{y}" font-size="{_AXIS_PX}" fill="#555" '
        f'text-anchor="end">{high}</text>'
    )


def distribution_pair(name: str, distribution: Distribution) -> str:
    """Reference (grey) and current (blue) bars side by side per bin or category.

    Args:
        name: The column, named in the chart's words.
        distribution: From `numeric_distribution` or `categorical_distribution`.

    Returns:
        An inline `<svg>` element.
    """
    d = distribution
    words = _distribution_words(name, d)
    top = max((*d.reference, *d.current), default=0.0)
    if not d.labels or top <= 0:
        return _svg(words, "")
    slot = (WIDTH - 2 * _PAD) / len(d.labels)
    # Numbers keep a strip at the bottom for the range; categories use the whole height.
    base = HEIGHT - _PAD - (_AXIS_PX + 2 if d.range_labels else 0)
    ref = _bars(d.reference, top, _PAD + slot * 0.06, slot, base)
    cur = _bars(d.current, top, _PAD + slot * 0.52, slot, base)
    body = _range_text(d) if d.range_labels else ""
    if ref:
        body += f'<path fill="{REFERENCE_COLOUR}" d="{ref}"/>'
    if cur:
        body += f'<path fill="{CURRENT_COLOUR}" d="{cur}"/>'
    return _svg(words, body)


def _finite(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _segments(points: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive present points; a missing one ends a run (the gap)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


def _series_words(days, values, bounds) -> str:
    if not days:
        return "no days"
    parts = []
    for metric, series in values.items():
        said = ", ".join(
            f"{day} {'missing' if v is None else _number(v)}"
            for day, v in zip(days, series, strict=True)
        )
        bound = bounds.get(metric)
        parts.append(f"{metric}: {said}" + ("" if bound is None else f"; bound {_number(bound)}"))
    return f"per day from {days[0]} to {days[-1]}: " + "; ".join(parts)


def _y_scale(values: Mapping[str, list], bounds: Mapping[str, float]):
    seen = [v for series in values.values() for v in series if v is not None]
    seen += list(bounds.values())
    low, high = (min(seen), max(seen)) if seen else (0.0, 1.0)
    if high == low:
        low, high = low - 0.5, high + 0.5
    plot = HEIGHT - 2 * _PAD
    return lambda v: _PAD + plot * (high - v) / (high - low)


def daily_series(
    days: Sequence[object],
    values_by_metric: Mapping[str, Sequence[float | None]],
    bounds: Mapping[str, float | None],
) -> str:
    """Per-day metric values as lines, each metric's bound as a dashed line of its colour.

    Args:
        days: The days in order (dates or ISO strings), one x position each.
        values_by_metric: Per metric, one value per day; None or NaN marks a missing day,
            drawn as a gap.
        bounds: Per metric, the bound it is judged against (absent or None: no line).

    Returns:
        An inline `<svg>` element.

    Raises:
        ValueError: When a metric does not have one value per day.
    """
    days = [str(day) for day in days]
    values = {}
    for metric, series in values_by_metric.items():
        if len(series) != len(days):
            raise ValueError(
                f"daily_series: metric {metric!r} has {len(series)} values for {len(days)} "
                "days; give one value per day (None for a missing day)"
            )
        values[str(metric)] = [_finite(v) for v in series]
    limits = {str(m): b for m, b in ((m, _finite(b)) for m, b in bounds.items()) if b is not None}
    limits = {m: b for m, b in limits.items() if m in values}
    y = _y_scale(values, limits)
    step = (WIDTH - 2 * _PAD) / max(len(days) - 1, 1)
    body = []
    for i, (metric, series) in enumerate(values.items()):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        if metric in limits:
            at = y(limits[metric])
            body.append(
                f'<line x1="{_PAD}" x2="{WIDTH - _PAD}" y1="{at:.1f}" y2="{at:.1f}" '
                f'stroke="{colour}" stroke-dasharray="3 2" stroke-width="1"/>'
            )
        points = [None if v is None else (_PAD + j * step, y(v)) for j, v in enumerate(series)]
        for run in _segments(points):
            if len(run) == 1:  # a day alone between gaps: a dot, a line needs two points
                x, at = run[0]
                body.append(f'<circle cx="{x:.1f}" cy="{at:.1f}" r="1.5" fill="{colour}"/>')
                continue
            path = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in run)
            body.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
            )
    return _svg(_series_words(days, values, limits), "".join(body))
