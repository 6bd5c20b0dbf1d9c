"""The deploy step's Markdown report: what was applied, the canary's numbers, the decision."""

from components._shared.reports.markdown import markdown_table, md_text, verdict
from components.deploy_model.core import Outcome


def render_report(outcome: Outcome, service: str, namespace: str) -> str:
    """The report a human reads in the Kubeflow UI."""
    title = "SHADOW ADDED" if outcome.shadow is not None else verdict(outcome.promoted)
    lines = [
        f"# Deploy: {title}",
        "",
        f"InferenceService `{md_text(namespace)}/{md_text(service)}`, model version "
        f"v{outcome.version}"
        + (f" (previously serving v{outcome.previous})" if outcome.previous else ""),
        "",
        *[f"- {md_text(reason)}" for reason in outcome.reasons],
        "",
        "## Steps",
        "",
        *[f"1. {md_text(step)}" for step in outcome.steps],
    ]
    if outcome.verdict is not None:
        numbers = outcome.verdict.numbers
        lines += [
            "",
            "## Canary",
            "",
            markdown_table(["number", "value"], list(numbers.items())),
            "",
            markdown_table(["query", "PromQL"], list(outcome.verdict.queries.items())),
        ]
    return "\n".join(lines) + "\n"
