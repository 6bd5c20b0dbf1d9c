"""What a monitoring run did: the drift verdict and, when it retrained, the training outcome."""

import re
from pathlib import Path
from typing import Any

from pipelines.summary import _error_from_log, _model, task_outputs, training_gates


def _drift_gate(task: dict[str, Any] | None) -> dict | None:
    if task is None:
        return None
    meta = task["artifacts"].get("summary", {}).get("metadata", {})
    numbers = task["artifacts"].get("metrics", {}).get("metadata", {})
    drifted = task["parameters"].get("Output", meta.get("drifted"))
    return {
        "passed": None if drifted is None else not drifted,  # passing = no drift
        "reasons": meta.get("reasons", []),
        "metrics": numbers,
        "report": meta,
    }


def _outcome(failed: bool, drifted: bool | None, blessed: bool | None, model: dict | None) -> str:
    if failed:
        return "failed"
    if not drifted:
        return "no drift"
    if blessed:
        return "drifted → retrained: blessed" + (f" (model v{model['version']})" if model else "")
    return "drifted → retrained: rejected"


def summarize_monitoring(run_dir: Path, log: str, returncode: int) -> dict[str, Any]:
    """The monitoring run summary: the training summary's keys plus drift, reference, outcome."""
    outputs = task_outputs(run_dir)
    failed_task = re.search(r"Inner task failed: '?([\w-]+)", re.sub(r"\x1b\[[0-9;]*m", "", log))
    failed = returncode != 0 or failed_task is not None
    drift = _drift_gate(outputs.get("detect-drift"))
    drifted = None if drift is None or drift["passed"] is None else not drift["passed"]
    retrained = "train-model" in outputs
    gates = {"drift": drift, **training_gates(outputs, run_dir)}
    trained = [gates[g] for g in ("validation", "evaluation", "fairness")]
    blessed = None if failed or not retrained else all(bool(g and g["passed"]) for g in trained)
    model = _model(outputs)
    reference = outputs.get("resolve-reference", {}).get("parameters", {}).get("Output")
    return {
        "pipeline": "monitoring",
        "status": "failed" if failed else "succeeded",
        "drifted": drifted,
        "retrained": retrained,
        "blessed": blessed,
        "outcome": _outcome(failed, drifted, blessed, model),
        "reference_uri": reference,
        "gates": gates,
        "model": model,
        "error": (_error_from_log(log) or f"task {failed_task[1] if failed_task else '?'} failed")
        if failed
        else None,
        "failed_task": failed_task[1] if failed_task else None,
        "run_dir": str(run_dir),
    }
