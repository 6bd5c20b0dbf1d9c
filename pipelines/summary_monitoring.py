"""What a monitoring run did: the drift verdict and, when it retrained, the training outcome."""

from pathlib import Path
from typing import Any

from pipelines.summary import _model, failure, task_outputs, training_gates


def _drift_gate(task: dict[str, Any] | None) -> dict | None:
    if task is None:
        return None
    meta = task["artifacts"].get("summary", {}).get("metadata", {})
    numbers = task["artifacts"].get("metrics", {}).get("metadata", {})
    drifted = task["parameters"].get("Output", meta.get("drifted"))
    return {
        "passed": None if drifted is None else not drifted,  # passing = no drift
        "reasons": meta.get("reasons", []),
        "prediction_drifted": meta.get("prediction_drifted"),
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
    failure_fields = failure(log, returncode)
    failed = failure_fields is not None
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
        **(failure_fields or {"error": None, "failed_task": None}),
        "run_dir": str(run_dir),
    }
