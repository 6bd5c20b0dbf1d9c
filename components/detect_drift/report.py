"""The drift gate's outputs: JSON object, Metrics, Markdown summary and a small HTML page."""

import html
import math

from components._shared.reports.charts import distribution_pair
from components._shared.reports.markdown import fmt, markdown_table, md_text
from components.detect_drift.ranking import ranked
from components.detect_drift.results import SCHEMA_CHANGE, SKIPPED, ColumnDrift, DriftResult
from components.detect_drift.stattests import P_VALUE, REGISTRY

# Category labels and reasons are cut to this many characters in the HTML page.
MAX_LABEL_CHARS = 80
MAX_UNSEEN_SHOWN = 5


def _score(value: float | None) -> str:
    # Significant digits, so a p-value of 1e-12 does not read as 0.0000.
    return "—" if value is None else f"{value:.4g}"


def _scored(c: ColumnDrift) -> str:
    # An approximate (streamed) score carries its error bound; "±?" when none is known.
    if c.score is None or c.error_bound == 0:
        return _score(c.score)
    return f"{c.score:.4g} ± " + ("?" if c.error_bound is None else f"{c.error_bound:.1g}")


def _number(value: float | None) -> float | None:
    # JSON has no inf/NaN: a chi-square p-value is finite, but be safe with odd data.
    return None if value is None or not math.isfinite(value) else value


def column_json(c: ColumnDrift) -> dict:
    """One column as JSON values."""
    return {
        "column": c.column,
        "method": c.method,
        "score": _number(c.score),
        "threshold": c.threshold,
        "drifted": c.drifted,
        "status": c.status,
        "column_type": c.column_type,
        "reference_null_share": c.reference_null_share,
        "current_null_share": c.current_null_share,
        "reference_non_finite_share": c.reference_non_finite_share,
        "current_non_finite_share": c.current_non_finite_share,
        "unseen_categories": list(c.unseen_categories),
        "unseen_count": c.unseen_count,
        "reason": c.reason,
        "error_bound": _number(c.error_bound),
    }


def as_json(result: DriftResult) -> dict:
    """The one object `kfp-mlops drift --format json` prints."""
    return {
        "dataset": {
            "drift_share": result.drift_share,
            "drifted": result.drifted,
            "drift_share_threshold": result.drift_share_threshold,
            "columns_compared": len(result.compared),
            "columns_drifted": result.drifted_columns,
            "columns_skipped": [c.column for c in result.columns if c.status == SKIPPED],
            "schema_changes": [c.column for c in result.columns if c.status == SCHEMA_CHANGE],
            "reference_rows": result.reference_rows,
            "current_rows": result.current_rows,
            "mode": result.mode,
            "reasons": result.reasons + ([_prediction_line(result)] if result.prediction else []),
        },
        "columns": [column_json(c) for c in result.columns],
        "prediction": None if result.prediction is None else column_json(result.prediction),
    }


def metrics_of(result: DriftResult) -> dict[str, float]:
    """Numbers for the Metrics artifact: the dataset share and verdict, each column's score."""
    numbers = {
        "drift_share": result.drift_share,
        "columns_compared": float(len(result.compared)),
        "columns_drifted": float(len(result.drifted_columns)),
        "drifted": 1.0 if result.drifted else 0.0,
    }
    for c in result.columns:
        if c.score is not None and math.isfinite(c.score):
            numbers[f"score_{c.column}"] = c.score
    p = result.prediction
    if p is not None:
        numbers["prediction_drifted"] = 1.0 if p.drifted else 0.0
        if p.score is not None and math.isfinite(p.score):
            numbers["prediction_score"] = p.score
    return numbers


def _prediction_line(result: DriftResult) -> str | None:
    p = result.prediction
    if p is None:
        return None
    if p.status == SKIPPED:
        return f"prediction drift: not tested ({p.reason})"
    verdict = "DRIFTED" if p.drifted else "no drift"
    return (
        f"prediction drift: {verdict} ({p.method} {_scored(p)}, threshold {fmt(p.threshold)}; "
        "not counted in the share)"
    )


def metadata_of(result: DriftResult) -> dict:
    """The summary artifact's metadata (JSON values only); `passed` means no dataset drift."""
    dataset = as_json(result)["dataset"]
    prediction = None if result.prediction is None else result.prediction.drifted
    return {"passed": not result.drifted, **dataset, "prediction_drifted": prediction}


def render_markdown(result: DriftResult) -> str:
    """The Markdown summary a human reads in the Kubeflow UI."""
    title = "DRIFTED" if result.drifted else "NO DRIFT"
    # Reasons name columns and quote categories: data, escaped like every other value.
    lines = [f"# Drift: {title}", ""] + [f"- {md_text(r)}" for r in result.reasons]
    if _prediction_line(result):
        lines.append(f"- {md_text(_prediction_line(result))}")
    if result.mode != "exact":
        lines.append(f"- read {result.mode}: scores marked ± are approximate, with their bound")
    lines.append("")
    rows = [
        (
            c.column,
            c.method or c.status,
            _scored(c),
            c.threshold,
            "drift" if c.drifted else ("skipped" if c.status == SKIPPED else "ok"),
            c.reference_null_share,
            c.current_null_share,
            c.unseen_count or "",
        )
        for c in ranked(result.columns)
    ]
    headers = ["column", "method", "score", "threshold", "verdict", "null ref", "null cur", "new"]
    lines.append(markdown_table(headers, rows))
    return "\n".join(lines)


# The rule's sign and its negation: "p = 0.003 ≤ 0.05" (drift), "p = 0.3 > 0.05" (none).
_SIGNS = {"<=": ("≤", ">"), "<": ("<", "≥"), ">=": ("≥", "<")}


def comparison(c: ColumnDrift) -> str:
    """The score against its threshold in words, the sign saying which side it falls on.

    Args:
        c: One column's result.

    Returns:
        "p = 0.003 ≤ 0.05" for a p-value test, "distance 0.21 ≥ 0.1" for a distance (with
        "± bound" when approximate); "" when the column has no score.
    """
    if c.score is None or c.threshold is None or c.method not in REGISTRY:
        return ""
    test = REGISTRY[c.method]
    sign = _SIGNS[test.rule][0 if c.drifted else 1]
    name = "p =" if test.kind == P_VALUE else "distance"
    return f"{name} {_scored(c)} {sign} {c.threshold:g}"


def _chart(c: ColumnDrift) -> str:
    return "" if c.distribution is None else distribution_pair(c.column, c.distribution)


def _cell(value: object) -> str:
    return f"<td>{html.escape(fmt(value)[:MAX_LABEL_CHARS])}</td>"


def _row(c: ColumnDrift) -> str:
    verdict = "drift" if c.drifted else ("skipped" if c.status == SKIPPED else "ok")
    unseen = ", ".join(c.unseen_categories[:MAX_UNSEEN_SHOWN])
    if c.unseen_count > MAX_UNSEEN_SHOWN:
        unseen += f" … ({c.unseen_count} in all)"
    cells = [c.column, c.column_type, c.method or c.status]
    tail = [c.reference_null_share, c.current_null_share, unseen, c.reason]
    tds = "".join(_cell(v) for v in cells) + f'<td class="{verdict}">{verdict}</td>'
    tds += f"{_cell(comparison(c))}<td>{_chart(c)}</td>" + "".join(_cell(v) for v in tail)
    return f"<tr>{tds}</tr>"


STYLE = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}.drift{color:#c0392b;"
    "font-weight:bold}.ok{color:#27ae60}.skipped{color:#888}"
)


def render_html(result: DriftResult) -> str:
    """A self-contained page (inline CSS and SVG, no scripts, no raw rows), bounded in size."""
    title = "Dataset drift" if result.drifted else "No dataset drift"
    reasons = "".join(f"<li>{html.escape(r[: 4 * MAX_LABEL_CHARS])}</li>" for r in result.reasons)
    headers = ["column", "type", "method", "verdict", "score vs threshold"]
    headers += ["reference (grey) vs current (blue)", "null share ref", "null share cur"]
    headers += ["new categories", "note"]
    head = "".join(f"<th>{h}</th>" for h in headers)
    rows = "".join(_row(c) for c in ranked(result.columns))
    if result.prediction is not None:
        rows += _row(result.prediction)
    if _prediction_line(result):
        reasons += f"<li>{html.escape(_prediction_line(result))}</li>"
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>reference rows: {result.reference_rows}, current rows: {result.current_rows}; "
        f"read {result.mode}</p>"
        f"<ul>{reasons}</ul><table><tr>{head}</tr>{rows}</table></body></html>"
    )
