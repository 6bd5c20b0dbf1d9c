"""The novelty check's figures for the Pushgateway, its verdict record and Markdown report.

Pushed under the gate labels the others use ({pipeline, model, gate="novelty"}):
`kfp_mlops_gate_passed` (1 when the retrain goes ahead) and
`kfp_mlops_retrain_skipped{reason}` (1 when it was skipped; reason nothing_new or
no_training_set; 0 with reason new, no_champion or unreadable). No alert rule watches them: a
skipped retrain is the intended outcome, and the drift alert it leaves firing is the signal.
"""

from components._shared.reports.markdown import md_text
from components._shared.verdicts.gate_records import GateRecord
from components._shared.verdicts.pushgateway import GateFigures, Series
from components.check_novelty.core import Novelty

GATE = "novelty"


def figures_of(novelty: Novelty, model: str, duration_seconds: float | None = None) -> GateFigures:
    """The verdict and one series that says whether the retrain was skipped, and why."""
    skipped = Series(
        "kfp_mlops_retrain_skipped",
        "1 when a needed retrain was skipped (reason: nothing_new, no_training_set), else 0",
        {"reason": novelty.kind},
        0.0 if novelty.train else 1.0,
    )
    metrics = {"differences": float(len(novelty.differences))}
    if novelty.champion_version is not None:
        metrics["champion_version"] = float(novelty.champion_version)
    return GateFigures(
        gate=GATE,
        model=model,
        passed=novelty.train,
        metrics=metrics,
        series=[skipped],
        duration_seconds=duration_seconds,
    )


def record_of(novelty: Novelty, model: str, pipeline: str) -> GateRecord:
    """The line the run's notification shows."""
    return GateRecord(
        gate=GATE, passed=novelty.train, line=novelty.reason, model=model, pipeline=pipeline
    )


def render_markdown(novelty: Novelty, data_uri: str, dataset_sha256: str) -> str:
    """The report: the decision, the reason, what was compared and what differed."""
    verdict = "retrain" if novelty.train else "retrain skipped"
    lines = [
        f"# Novelty: {verdict}",
        "",
        md_text(novelty.reason),
        "",
        f"- training set: {md_text(data_uri or '(none)')}",
        f"- its sha256: {dataset_sha256 or '(none)'}",
        f"- champion: {f'v{novelty.champion_version}' if novelty.champion_version else 'none'}",
    ]
    if novelty.differences:
        lines += ["", "## What differs", ""] + [f"- {md_text(d)}" for d in novelty.differences]
    return "\n".join(lines) + "\n"
