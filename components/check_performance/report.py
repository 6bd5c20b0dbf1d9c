"""The live-performance gate's numbers, Markdown report, HTML page and metadata."""

import html
import math
from dataclasses import asdict

from components._shared.reports.charts import daily_series
from components._shared.reports.markdown import fmt, markdown_table, md_text
from components.check_performance.bounds import NOT_JUDGED, PASSED
from components.check_performance.core import PerformanceResult
from components.check_performance.measures import METRICS

# The Markdown table shows the latest days; the HTML page and the metadata hold them all.
MARKDOWN_DAYS = 31
SKIPPED_REPORT = (
    "# Live performance: SKIPPED\n\nNo labels_uri given: live performance was not checked; "
    "the retrain decision is the drift gate's alone.\n"
)


BOUND_COLUMNS = ["metric", "bound (min)", "status", "why"]
BOUND_TABLE = [
    *BOUND_COLUMNS[:3],
    *("last judged day", "value", "window", "days below", "days without value", "why"),
]
DAY_COLUMNS = ["day", "predictions", "labelled", "late", "judged"]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _shown(status: str) -> str:
    """A bound's status as a reader scans for it: only "passed" stays quiet."""
    return {PASSED: "passed"}.get(status, status.replace("_", " ").upper())


def _unscored(unscored: dict[str, str]) -> str:
    return "; ".join(f"{m}: {why}" for m, why in unscored.items())


def headline(result: PerformanceResult) -> str:
    """The verdict a reader sees first: a gate that judged no bound does not say PASSED."""
    if result.cannot_judge:
        return "CANNOT JUDGE"
    if not result.passed:
        return "REJECTED"
    if any(c.status == NOT_JUDGED for c in result.checks):
        return "NOT JUDGED"
    return "PASSED"


def _said(result: PerformanceResult) -> list[str]:
    """The reasons, then what a passing gate must still say: each bound it did not judge."""
    return [*result.reasons] + [
        c.reason for c in result.checks if c.status == NOT_JUDGED and c.reason not in result.reasons
    ]


def metrics_of(result: PerformanceResult) -> dict[str, float]:
    """Numbers for the Metrics artifact: window and last-day values, runs below, counts."""
    numbers: dict[str, float] = {}
    for name, value in result.window.items():
        if value is not None:
            numbers[name] = value
    for c in result.checks:
        if c.last_day_value is not None:
            numbers[f"{c.metric}_last_day"] = c.last_day_value
        numbers[f"{c.metric}_days_below_bound"] = float(c.days_below)
        numbers[f"{c.metric}_days_without_value"] = float(c.days_without_value)
        numbers[f"{c.metric}_not_judged"] = 1.0 if c.status == NOT_JUDGED else 0.0
    numbers |= {k: float(v) for k, v in asdict(result.counts).items()}
    numbers["judged_days"] = float(sum(d.judged for d in result.days))
    if result.label_counts is not None:
        c = result.label_counts
        numbers |= {"labels_read": float(c.read), "labels_kept": float(c.kept)}
        numbers |= {"labels_mapped": float(c.mapped), "labels_refused": float(c.refused)}
        numbers |= {f"labels_refused_{r}": float(n) for r, n in c.refusals().items()}
    if result.served is not None and result.served.alias:
        numbers["predictions_other_versions"] = float(result.served.not_judged)
        numbers["labels_other_versions"] = float(result.served.other_labels)
    numbers["cannot_judge"] = 1.0 if result.cannot_judge else 0.0
    numbers["passed"] = 1.0 if result.passed else 0.0
    return numbers


def metadata_of(result: PerformanceResult) -> dict:
    """The report artifact's metadata: verdict, reasons, checks, counts, every day."""
    return {
        "passed": result.passed,
        "skipped": False,
        "reasons": list(result.reasons),
        "notes": list(result.notes),
        "bounds": {c.metric: c.bound for c in result.checks},
        "days_below_bound": {c.metric: c.days_below for c in result.checks},
        "checks": {
            c.metric: {
                "status": c.status,
                "reason": c.reason,
                "bound": c.bound,
                "days_below": c.days_below,
                "days_with_value": c.days_with_value,
                "days_without_value": c.days_without_value,
            }
            for c in result.checks
        },
        "min_days": result.min_days,
        "min_labels_per_day": result.min_labels_per_day,
        "max_label_delay_days": result.max_label_delay_days,
        "classes": [str(c) for c in result.classes],
        "positive_class": None if result.positive_class is None else str(result.positive_class),
        "counts": asdict(result.counts),
        "cannot_judge": result.cannot_judge,
        "served": None if result.served is None else result.served.as_dict(),
        "label_schema": None if result.label_counts is None else result.label_counts.as_dict(),
        "window": {k: _finite(v) for k, v in result.window.items()},
        "days": [
            {
                "day": str(d.day),
                "predictions": d.predictions,
                "labelled": d.labelled,
                "late_labels": d.late_labels,
                "judged": d.judged,
                **{k: _finite(v) for k, v in d.values.items()},
                "unscored": dict(d.unscored),
            }
            for d in result.days
        ],
    }


def skipped_metadata() -> dict:
    """The report metadata of a run without labels: the gate did not judge."""
    return {"passed": None, "skipped": True, "reasons": [], "notes": ["no labels_uri given"]}


def summary_line(result: PerformanceResult) -> str:
    """One line for notifications: each bound, its last judged day and its run below."""
    if result.cannot_judge:
        return result.reasons[0]
    parts = [
        f"{c.metric} {fmt(c.last_day_value)} (bound {c.bound:g}, {c.days_below} day(s) below)"
        if c.status != NOT_JUDGED
        else f"{c.metric} not judged (bound {c.bound:g})"
        for c in result.checks
    ]
    return ", ".join(parts) or "no bound set"


def served_line(result: PerformanceResult) -> str:
    """The console's line on which version's predictions were judged, and the others'."""
    if result.served is not None:
        return result.served.line()
    if result.cannot_judge:
        return "judged: nothing"
    return "judged: the predictions of every model version (no alias given)"


def label_line(result: PerformanceResult) -> str:
    """The console's line on the label schema filter: what it kept, and refused by reason."""
    c = result.label_counts
    if c is None:
        return "labels: none read"
    if not c.pinned:
        return f"labels: {c.read} read, no label_schema pinned (all used)"
    refused = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in c.refusals().items())
    return (
        f"labels: {c.read} read, {c.kept} of {c.pinned} kept ({c.mapped} mapped from older "
        f"versions), {c.refused} refused" + (f" ({refused})" if refused else "")
    )


def render_markdown(result: PerformanceResult) -> str:
    """The human report for the Kubeflow UI; every name and value from data is escaped."""
    lines = [f"# Live performance: {headline(result)}", ""]
    said = [f"- {md_text(r)}" for r in _said(result)]
    lines += said or ["- every bound holds"]
    lines += ["", "## Bounds", ""]
    lines.append(
        markdown_table(
            BOUND_TABLE,
            [
                [
                    c.metric,
                    c.bound,
                    _shown(c.status),
                    c.last_day,
                    c.last_day_value,
                    c.window_value,
                    c.days_below,
                    c.days_without_value,
                    c.reason,
                ]
                for c in result.checks
            ],
        )
    )
    lines += ["", "## Labels", "", f"- {md_text(label_line(result))}"]
    lines += [f"- {md_text(n)}" for n in result.notes]
    shown = result.days[-MARKDOWN_DAYS:]
    lines += ["", f"## Per day (last {len(shown)} of {len(result.days)})", ""]
    lines.append(
        markdown_table(
            [*DAY_COLUMNS, *METRICS, "not computed"],
            [
                [str(d.day), d.predictions, d.labelled, d.late_labels, d.judged]
                + [d.values.get(m) for m in METRICS]
                + [_unscored(d.unscored)]
                for d in shown
            ],
        )
    )
    return "\n".join(lines)


STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    ".fail{color:#c0392b}.pass{color:#1e7b34}.unjudged{color:#8a6d00}"
    "figure{display:inline-block;margin:.5em 1em 0 0}"
    "figcaption{font-size:.85em}"
)


def _caption(metric: str, bound: float | None) -> str:
    return metric + ("" if bound is None else f" (bound ≥ {bound:g}, dashed)")


def _cells(values: list, tag: str = "td") -> str:
    return "".join(f"<{tag}>{html.escape(fmt(v))}</{tag}>" for v in values)


def render_html(result: PerformanceResult) -> str:
    """A self-contained page: verdict, one SVG chart per metric per day, the tables."""
    word = headline(result)
    title = f"Live performance: {word}"
    css = {"PASSED": "pass", "REJECTED": "fail"}.get(word, "unjudged")
    bounds = {c.metric: c.bound for c in result.checks}
    days = [d.day for d in result.days]
    charted = [*bounds, *(m for m in METRICS if m not in bounds)]
    # One small chart per metric (its own scale), bound dashed; an unjudged day is a gap.
    charts = "".join(
        f"<figure><figcaption>{html.escape(_caption(m, bounds.get(m)))}</figcaption>"
        + daily_series(days, {m: [d.values.get(m) for d in result.days]}, {m: bounds.get(m)})
        + "</figure>"
        for m in charted
        if any(d.values.get(m) is not None for d in result.days)
    )
    items = "".join(f"<li>{html.escape(t)}</li>" for t in [*_said(result), *result.notes])
    checks = "".join(
        f"<tr>{_cells([c.metric, c.bound, _shown(c.status), c.reason])}</tr>" for c in result.checks
    )
    head = _cells([*DAY_COLUMNS, *METRICS, "not computed"], "th")
    rows = "".join(
        "<tr>"
        + _cells([str(d.day), d.predictions, d.labelled, d.late_labels, d.judged])
        + _cells([d.values.get(m) for m in METRICS] + [_unscored(d.unscored)])
        + "</tr>"
        for d in result.days
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
        f'<style>{STYLE}</style></head><body><h1 class="{css}">{title}</h1>'
        f"<ul>{items}</ul><h2>Bounds</h2><table><tr>{_cells(BOUND_COLUMNS, 'th')}</tr>"
        f"{checks}</table><h2>Per day</h2>{charts}"
        f"<table><tr>{head}</tr>{rows}</table></body></html>"
    )


def skipped_html() -> str:
    """The page of a run without labels."""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Live performance: '
        "SKIPPED</title></head><body><h1>Live performance: SKIPPED</h1><p>No labels_uri "
        "given: live performance was not checked.</p></body></html>"
    )
