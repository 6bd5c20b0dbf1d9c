"""The live comparison's words and numbers: console line, Markdown, metadata, KFP metrics."""

from components._shared.reports.markdown import Md, fmt, markdown_table, md_text, plain
from components.compare_live.result import ComparisonResult


def summary_line(r: ComparisonResult) -> str:
    """One line: verdict, versions, the metric difference and its interval, agreement."""
    versions = f"v{r.challenger_version or '?'} vs champion v{r.champion_version or '?'}"
    parts = [f"{r.verdict}: challenger {versions}"]
    if r.delta is not None:
        parts.append(
            f"{r.metric} {fmt(r.challenger_value)} vs {fmt(r.champion_value)}, difference "
            f"{r.delta:+.4f} [{fmt(r.delta_low)}, {fmt(r.delta_high)}]"
        )
    if r.agreement is not None:
        parts.append(f"agreement {r.agreement:.4f}")
    if r.reasons:
        parts.append("; ".join(r.reasons))
    return " — ".join(parts)


def _counts(r: ComparisonResult) -> list[str]:
    c = r.counts
    if c is None:
        return []
    lines = [
        f"{c.requests} paired requests ({c.paired_rows} rows; {c.labelled_rows} labelled)",
        f"{c.primary_rows} primary and {c.shadow_rows} shadow rows read",
    ]
    said = {
        "shadow rows without their primary row in the window": c.unpaired_shadow_rows,
        "rows logged twice under one request and row (the first kept)": c.duplicate_rows,
        "labels name no paired row (other or unshadowed requests)": c.unmatched_labels,
        "labels have no `row` for a request of several rows (not used)": c.ambiguous_labels,
        "labels repeat a labelled row (the latest wins)": c.duplicate_labels,
        "labels are empty (not used)": c.null_labels,
    }
    return lines + [f"{n} {what}" for what, n in said.items() if n]


def render_markdown(r: ComparisonResult) -> str:
    """The report a person reads in the Kubeflow UI."""
    out = [f"# Live comparison: {r.verdict}", "", md_text(summary_line(r)), ""]
    if r.reasons:
        out += ["## Why", "", *(f"- {md_text(x)}" for x in r.reasons), ""]
    if r.delta is not None:
        out += [f"## {md_text(r.metric)} on the labelled rows", ""]
        out.append(
            markdown_table(
                ["champion", "challenger", "difference", "95 % low", "95 % high"],
                [[r.champion_value, r.challenger_value, r.delta, r.delta_low, r.delta_high]],
            )
        )
        limit = r.settings.get("max_metric_drop")
        out += ["", md_text(f"Interval: {r.method}; passes when low >= -{limit}."), ""]
    if r.shares:
        out += ["## Predicted class shares", "", md_text(f"agreement {fmt(r.agreement)}"), ""]
        rows = [[k, v["champion"], v["challenger"], v["difference"]] for k, v in r.shares.items()]
        out += [markdown_table(["class", "champion", "challenger", "difference"], rows), ""]
    for f in r.fairness:
        out += [f"## Fairness by {md_text(f['feature'])} ({md_text(f['measure'])})", ""]
        if f.get("unjudged"):
            out += [md_text(f"not judged: {f['unjudged']}"), ""]
            continue
        if f.get("bins"):
            bins = ", ".join(f["bins"])
            out += [md_text(f"numeric feature split into quartile bins: {bins}"), ""]
        rows = [
            [g["group"], g["rows"], g["small"], *_group(g["champion"]), *_group(g["challenger"])]
            for g in f["groups"]
        ]
        head = ["group", "rows", "too few rows", "champion accuracy", "champion selection"]
        head += ["challenger accuracy", "challenger selection"]
        out += [markdown_table(head, rows), ""]
        gaps = f"gap: champion {fmt(f['champion_gap'])}, challenger {fmt(f['challenger_gap'])}"
        out += [md_text(gaps), ""]
    notes = [*_counts(r), *r.notes]
    out += ["## Counts and notes", "", *(f"- {md_text(n)}" for n in notes)]
    return "\n".join(out)


def _group(values: dict) -> list:
    return [values.get("accuracy"), values.get("selection_rate")]


def metadata_of(r: ComparisonResult) -> dict:
    """The report's metadata: passed, reasons, cannot_judge and every number."""
    data = r.as_dict()
    return {k: v for k, v in data.items() if v is not None}


def metrics_of(r: ComparisonResult) -> dict[str, float]:
    """The KFP metrics (numbers only)."""
    found = {
        "agreement": r.agreement,
        f"{r.metric}_champion": r.champion_value,
        f"{r.metric}_challenger": r.challenger_value,
        f"{r.metric}_difference": r.delta,
        f"{r.metric}_difference_low": r.delta_low,
        f"{r.metric}_difference_high": r.delta_high,
    }
    if r.counts is not None:
        found |= {"requests": r.counts.requests, "labelled_rows": r.counts.labelled_rows}
        found["unpaired_shadow_rows"] = r.counts.unpaired_shadow_rows
    for name, share in r.shares.items():
        found[f"share_difference_{name}"] = share["difference"]
    for f in r.fairness:
        if f["challenger_gap"] is not None:
            found[f"{f['feature']}_{f['measure']}_challenger"] = f["challenger_gap"]
        if f["champion_gap"] is not None:
            found[f"{f['feature']}_{f['measure']}_champion"] = f["champion_gap"]
    return {k: float(plain(v)) for k, v in found.items() if v is not None}


__all__ = ["Md", "metadata_of", "metrics_of", "render_markdown", "summary_line"]
