"""A per-day metric chart as inline SVG: the day's values as a line, the bound drawn across.

Plain SVG elements only (no script, no external font or image), so the page renders the same
in the Kubeflow UI's sandboxed iframe and offline.
"""

import html
from datetime import date

WIDTH, HEIGHT = 560, 170
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 22, 30
BELOW, ABOVE, LINE, BOUND = "#c0392b", "#1e7b34", "#34495e", "#c0392b"


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span / 2 if count == 1 else span * index / (count - 1))


def _y(value: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - min(max(value, 0.0), 1.0))


def _axes(days: list[date]) -> list[str]:
    parts = [
        f'<line x1="{LEFT}" y1="{_y(0):.1f}" x2="{WIDTH - RIGHT}" y2="{_y(0):.1f}" stroke="#999"/>'
    ]
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{LEFT - 6}" y="{_y(tick) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{tick:g}</text>"
        )
    step = max(1, len(days) // 6)  # at most ~7 day labels, whatever the window
    for i in range(0, len(days), step):
        parts.append(
            f'<text x="{_x(i, len(days)):.1f}" y="{HEIGHT - 10}" font-size="10" '
            f'text-anchor="middle">{days[i].strftime("%m-%d")}</text>'
        )
    return parts


def metric_chart(
    metric: str, days: list[date], values: list[float | None], bound: float | None
) -> str:
    """One metric over the days: a point per judged day (red when below the bound).

    Args:
        metric: The metric's name (the chart's title).
        days: Every day of the window, in order.
        values: The metric per day; None where the day was not judged (a gap in the line).
        bound: The minimum drawn as a dashed line; None: no bound set.

    Returns:
        An `<svg>` element with a `<title>` for screen readers.
    """
    title = html.escape(metric) + (f" (bound ≥ {bound:g})" if bound is not None else "")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{title} per day</title>',
        f'<text x="{LEFT}" y="14" font-size="12" font-weight="bold">{title}</text>',
        *_axes(days),
    ]
    if bound is not None:
        parts.append(
            f'<line x1="{LEFT}" y1="{_y(bound):.1f}" x2="{WIDTH - RIGHT}" y2="{_y(bound):.1f}" '
            f'stroke="{BOUND}" stroke-dasharray="5,4"/>'
        )
    lines, points, dots = [], [], []
    for i, value in enumerate([*values, None]):  # a final None closes the last segment
        if value is None:
            if len(points) > 1:
                joined = " ".join(points)
                lines.append(f'<polyline points="{joined}" fill="none" stroke="{LINE}"/>')
            points = []
            continue
        x, y = _x(i, len(days)), _y(value)
        points.append(f"{x:.1f},{y:.1f}")
        colour = BELOW if bound is not None and value < bound else ABOVE
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
            f"<title>{days[i]}: {value:.4f}</title></circle>"
        )
    parts += lines + dots  # dots over the line
    parts.append("</svg>")
    return "".join(parts)
