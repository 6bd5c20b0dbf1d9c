"""The live comparison's HTML page: class shares of both models, the difference's interval."""

import html
import math

from components._shared.reports.charts import categorical_distribution, distribution_pair, text
from components.compare_live.report import render_markdown, summary_line
from components.compare_live.result import ComparisonResult

WIDTH, HEIGHT, PAD = 240, 60, 12
STYLE = (
    "body{font-family:sans-serif;max-width:56em;margin:2em auto}"
    ".pass{color:#1e7b34}.fail{color:#b00020}.unjudged{color:#8a6d00}"
    "pre{white-space:pre-wrap}"
)


def interval_chart(r: ComparisonResult) -> str:
    """The difference on a line: its interval a bar, the estimate a dot, 0 and -drop ticks.

    Empty when there is no interval.
    """
    values = [r.delta, r.delta_low, r.delta_high]
    if any(v is None or not math.isfinite(v) for v in values):
        return ""
    drop = float(r.settings.get("max_metric_drop", 0.0))
    span = max(abs(r.delta_low), abs(r.delta_high), drop, 0.01) * 1.2

    def x(v: float) -> float:
        return PAD + (v + span) / (2 * span) * (WIDTH - 2 * PAD)

    words = text(
        f"{r.metric} challenger - champion {r.delta:+.4f}, 95 % interval "
        f"[{r.delta_low:+.4f}, {r.delta_high:+.4f}]; lower bound allowed: -{drop}"
    )
    mid = HEIGHT / 2
    body = (
        f'<line x1="{x(0):.1f}" y1="8" x2="{x(0):.1f}" y2="{HEIGHT - 8}" stroke="#555"/>'
        f'<line x1="{x(-drop):.1f}" y1="8" x2="{x(-drop):.1f}" y2="{HEIGHT - 8}" '
        'stroke="#b00020" stroke-dasharray="3,2"/>'
        f'<rect x="{x(r.delta_low):.1f}" y="{mid - 5}" '
        f'width="{max(x(r.delta_high) - x(r.delta_low), 1):.1f}" height="10" fill="#9ecae1"/>'
        f'<circle cx="{x(r.delta):.1f}" cy="{mid}" r="4" fill="#1f6fb4"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{words}">'
        f"<title>{words}</title>{body}</svg>"
    )


def render_html(r: ComparisonResult) -> str:
    """A self-contained page: verdict, the two charts, then the Markdown report as text."""
    css = {"PASSED": "pass", "FAILED": "fail"}.get(r.verdict, "unjudged")
    figures = []
    if r.shares:
        keys = list(r.shares)
        pair = categorical_distribution(
            keys, [r.shares[k]["champion"] for k in keys], [r.shares[k]["challenger"] for k in keys]
        )
        caption = "Predicted class shares: champion (grey) vs challenger (blue)"
        figures.append(f"<figure><figcaption>{caption}</figcaption>"
                       f"{distribution_pair('predicted class', pair)}</figure>")  # fmt: skip
    chart = interval_chart(r)
    if chart:
        caption = html.escape(f"{r.metric}: challenger - champion, {r.method}")
        figures.append(f"<figure><figcaption>{caption}</figcaption>{chart}</figure>")
    title = f"Live comparison: {r.verdict}"
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
        f'<style>{STYLE}</style></head><body><h1 class="{css}">{title}</h1>'
        f"<p>{html.escape(summary_line(r))}</p>{''.join(figures)}"
        f"<pre>{html.escape(render_markdown(r))}</pre></body></html>"
    )
