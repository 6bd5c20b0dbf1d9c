"""The fleet report as Markdown and as HTML (one table, one row per model); pure."""

import html

from components._shared.reports.markdown import fmt, markdown_table, md_text
from components.fleet_report.core import ModelRow, summary_line

HEADERS = ("model", "outcome", "drift", "drift share", "live performance", "retrain", "version")


def _cells(row: ModelRow) -> list[str]:
    share = "—" if row.drift_share is None else fmt(row.drift_share)
    version = "—" if row.version is None else f"v{row.version}"
    return [row.model, row.outcome, row.drift, share, row.performance, row.retrain, version]


def render_markdown(rows: list[ModelRow], run_ref: str, records_uri: str) -> str:
    """The table, then each model's gate lines (the per-column detail is in its gates' reports)."""
    lines = [
        "# Fleet monitoring",
        "",
        md_text(summary_line(rows)),
        "",
        f"Run: {md_text(run_ref)}; gate records: {md_text(records_uri + 'MODEL/gates/')}",
        "",
        markdown_table(HEADERS, [[md_text(c) for c in _cells(r)] for r in rows]),
        "",
        "## Gates per model",
    ]
    for r in rows:
        lines += ["", f"### {md_text(r.model)}", ""]
        lines += [f"- {md_text(d)}" for d in r.detail] or ["- no gate record"]
    return "\n".join(lines) + "\n"


def render_html(rows: list[ModelRow], run_ref: str, run_url: str) -> str:
    """The same table as a standalone page (text escaped, no scripts, no external assets)."""
    link = (
        f'<a href="{html.escape(run_url, quote=True)}">{html.escape(run_ref)}</a>'
        if run_url
        else html.escape(run_ref)
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = []
    for r in rows:
        cls = ' class="failed"' if r.failed else ""
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r))
        title = html.escape(" | ".join(r.detail), quote=True)
        body.append(f'<tr{cls} title="{title}">{cells}</tr>')
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Fleet monitoring</title>'
        "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
        "tr.failed{background:#fdd}</style></head><body>"
        f"<h1>Fleet monitoring</h1><p>{html.escape(summary_line(rows))}</p><p>Run: {link}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "</body></html>\n"
    )
