"""The fairness gate's Markdown report, its metadata and its numbers."""

from components._shared.reports.markdown import fmt, markdown_table, md_text, verdict
from components.check_fairness.core import FairnessResult, FeatureFairness


def metrics_of(result: FairnessResult) -> dict[str, float]:
    """Numbers for the Metrics artifact: per feature, the worst overall and the verdict."""
    numbers: dict[str, float] = {}
    for name, f in result.features.items():
        if f.judged:  # a feature not judged has no disparities (its reason says why)
            numbers[f"demographic_parity_difference_{name}"] = f.demographic_parity_difference
            numbers[f"equalized_odds_difference_{name}"] = f.equalized_odds_difference
    if result.demographic_parity_difference is not None:
        numbers["demographic_parity_difference"] = result.demographic_parity_difference
        numbers["equalized_odds_difference"] = result.equalized_odds_difference
    numbers["blessed"] = 1.0 if result.passed else 0.0
    return numbers


def _feature_metadata(f: FeatureFairness) -> dict:
    if not f.judged:
        return {"judged": False, "reason": f.not_judged, "n_groups": f.n_groups}
    facts = {
        "demographic_parity_difference": f.demographic_parity_difference,
        "equalized_odds_difference": f.equalized_odds_difference,
        "reported_class": f.reported_class,
        "groups": {
            g: {
                "count": r.count,
                "selection_rate": r.selection_rate,
                "tpr": r.tpr,
                "fpr": r.fpr,
                "small": r.small,
            }
            for g, r in f.groups.items()
        },
    }
    if f.bins:
        facts["bins"] = f.bins
    if f.per_class:
        facts["per_class"] = f.per_class
    return facts


def metadata_of(result: FairnessResult) -> dict:
    """The report artifact's metadata (JSON values only)."""
    return {
        "passed": result.passed,
        "reasons": list(result.reasons),
        "positive_classes": list(result.positive_classes),
        "max_demographic_parity_difference": result.max_demographic_parity_difference,
        "max_equalized_odds_difference": result.max_equalized_odds_difference,
        "min_group_size": result.min_group_size,
        "per_feature": {name: _feature_metadata(f) for name, f in result.features.items()},
    }


def _feature_section(f: FeatureFairness, min_group_size: int) -> list[str]:
    if not f.judged:
        return [
            f"## Feature {md_text(f.feature)}",
            "",
            f"- not judged: {f.n_groups} groups, no rates computed (see the reasons above)",
            "",
        ]
    lines = [
        f"## Feature {md_text(f.feature)}",
        "",
        f"- demographic parity difference: **{fmt(f.demographic_parity_difference)}**",
        f"- equalized odds difference: **{fmt(f.equalized_odds_difference)}**",
        f"- group rates for class {md_text(f.reported_class)}",
    ]
    if f.bins:
        lines.append(f"- numeric feature split into quartile bins: {md_text(', '.join(f.bins))}")
    if f.per_class:
        rows = [
            (c, v["demographic_parity_difference"], v["equalized_odds_difference"])
            for c, v in f.per_class.items()
        ]
        lines += ["", "One-vs-rest per class (the worst class counts):", ""]
        lines.append(markdown_table(["class", "DP difference", "EO difference"], rows))
    rows = [
        (g, r.count, r.selection_rate, r.tpr, r.fpr, "small" if r.small else "")
        for g, r in f.groups.items()
    ]
    lines += ["", markdown_table(["group", "rows", "selection rate", "TPR", "FPR", "note"], rows)]
    if any(r.small for r in f.groups.values()):
        lines.append(
            f"\n_small_: fewer than {min_group_size} rows; counted in the differences, "
            "but its rates are noisy."
        )
    return [*lines, ""]


def render_report(result: FairnessResult) -> str:
    """The Markdown a human reads in the Kubeflow UI."""
    lines = [f"# Fairness gate: {verdict(result.passed)}", ""]
    # Reasons name features and groups: data, escaped like every other value.
    reasons = [f"- {md_text(reason)}" for reason in result.reasons]
    lines += reasons or ["- every disparity within its bound"]
    lines += [
        "",
        markdown_table(
            ["bound", "value"],
            [
                ("max demographic parity difference", result.max_demographic_parity_difference),
                ("max equalized odds difference", result.max_equalized_odds_difference),
            ],
        ),
        "",
        "Unset bounds (—) are not checked. Positive class(es): "
        + ", ".join(md_text(c) for c in result.positive_classes),
        "",
    ]
    for f in result.features.values():
        lines += _feature_section(f, result.min_group_size)
    return "\n".join(lines)
