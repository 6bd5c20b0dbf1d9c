"""The training-set builder's Markdown report and its metadata."""

from components._shared.reports.markdown import markdown_table, md_text
from components.build_training_set.core import BuildResult


def render_markdown(result: BuildResult) -> str:
    """What was read, what was built (or why nothing was), the counts and the refusals."""
    title = "BUILT" if result.reference.startswith("dataset://") else "NOTHING BUILT"
    if result.reference and not result.counts:
        title = "FIXED DATASET"
    lines = [f"# Training set: {title}", "", md_text(result.message), ""]
    if result.window:
        lines += [f"Window: {md_text(result.window)}", ""]
    if result.counts:
        lines += ["## Counts", "", markdown_table(["what", "rows"], result.counts.items()), ""]
    refused = {k: v for k, v in result.label_counts.items() if isinstance(v, int) and v}
    if refused:
        pinned = result.label_counts.get("pinned") or "(none: every label accepted)"
        lines += [
            "## Label schema",
            "",
            f"Pinned: {md_text(pinned)}",
            "",
        ]
        lines += [markdown_table(["what", "labels"], refused.items()), ""]
    if result.notes:
        lines += ["## Not used", "", *[f"- {md_text(n)}" for n in result.notes], ""]
    sources = result.manifest.get("sources") or []
    if sources:
        rows = [(s.get("kind", ""), s["uri"], str(s.get("sha256", ""))[:12]) for s in sources]
        lines += ["## Sources", "", markdown_table(["kind", "uri", "sha256"], rows), ""]
    return "\n".join(lines)


def metadata_of(result: BuildResult) -> dict:
    """The report's metadata: reference, message, window, counts, label counts, notes."""
    return {
        "reference": result.reference,
        "message": result.message,
        "window": result.window,
        "counts": result.counts,
        "label_counts": result.label_counts,
        "notes": result.notes,
        "created": result.created,
    }
