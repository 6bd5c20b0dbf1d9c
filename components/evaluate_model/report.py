"""The Markdown report of an evaluation: verdict first, then metrics, then the champion."""

from components._shared.reports.markdown import Md, fmt, markdown_table, md_text, verdict
from components.evaluate_model.core import Evaluation

ROWS = ("accuracy", "f1", "roc_auc", "latency_p50_ms", "latency_p95_ms")


def _metric_rows(evaluation: Evaluation) -> list[list[object]]:
    checks = {c.metric: c for c in evaluation.checks}
    rows = []
    for metric in ROWS:
        check = checks.get(metric)
        name = Md(f"**{metric}** (primary)") if metric == evaluation.primary_metric else metric
        if check is None:
            rows.append([name, evaluation.values[metric], "not set", "—"])
        else:
            bound = f"{check.bound} {fmt(check.limit)}"
            rows.append([name, check.value, bound, "pass" if check.passed else "FAIL"])
    return rows


def _champion_section(evaluation: Evaluation) -> list[str]:
    lines = ["## Champion comparison", ""]
    comparison, primary = evaluation.comparison, evaluation.primary_metric
    if evaluation.first_run:
        lines.append("First run: no `@champion` is registered; judged on thresholds only.")
    elif evaluation.delta is None:
        lines.append(
            f"Champion v{evaluation.champion_version} cannot be compared with this model "
            "(the reason is above); judged on thresholds only."
        )
    else:
        lines.append(
            markdown_table(
                ["model", f"{primary} (compared rows)"],
                [
                    ["challenger (this run)", comparison.challenger_value],
                    [f"champion v{evaluation.champion_version}", evaluation.champion_value],
                    ["delta", evaluation.delta],
                ],
            )
        )
    if evaluation.compared_on:
        lines += [
            "",
            f"Rows: {md_text(evaluation.compared_on)}. Only test rows neither model trained on "
            "are compared: a champion scored on its own training rows would look better than "
            "it is. The thresholds above are checked on all test rows.",
        ]
    return lines


def render_markdown(evaluation: Evaluation) -> str:
    """A short report a human reads in the Kubeflow UI."""
    lines = [f"# Evaluation: {verdict(evaluation.passed)}", ""]
    # Reasons quote class names and champion errors: data, escaped like every other value.
    lines += [f"- {md_text(reason)}" for reason in evaluation.reasons]
    lines += ["", "## Metrics", ""]
    lines.append(
        markdown_table(["metric", "value", "threshold", "result"], _metric_rows(evaluation))
    )
    lines += [
        "",
        "Latency: one row per `predict` call, after a warm-up; `max_latency_ms` bounds p95.",
        f"ROC curve: class {md_text(evaluation.roc_class)} vs the rest.",
        "",
    ]
    lines += _champion_section(evaluation)
    return "\n".join(lines)
