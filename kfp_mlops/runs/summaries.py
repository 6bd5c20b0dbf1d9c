"""Run summaries (the `--output json` object): the gates' verdicts, the model, the error.

Which task is which gate, which one registers and which one trains comes from the pipeline's
descriptor (pipelines/descriptors.py). Every gate writes the same outputs: one bool, a
`metrics` artifact and a Markdown `report` whose metadata holds `passed` and `reasons`.
"""

import json
from pathlib import Path
from typing import Any

from kfp_mlops.runs.fleet_summary import summarize_fleet
from kfp_mlops.runs.outputs import failure, redacted, task_outputs
from pipelines.descriptors import Pipeline

# The gate whose bool output means "not passed": drift returns `drifted`.
_INVERTED = {"drift"}
# Gates whose bool output is not their verdict: live performance returns `retrain` (drifted
# or below bound); its verdict is in its report, and it may have skipped (no labels given).
_VERDICT_IN_REPORT = {"live_performance"}
TRAINING_GATES = ("validation", "evaluation", "fairness")


def summarize_training(pipeline: Pipeline, run_dir: Path, log: str, returncode: int) -> dict:
    """The training run summary."""
    outputs = task_outputs(run_dir)
    failure_fields = failure(log, returncode)
    failed = failure_fields is not None
    gates = _gates(pipeline, outputs, run_dir)
    blessed = None if failed else all(bool(g and g["passed"]) for g in gates.values())
    return {
        "pipeline": pipeline.name,
        "status": "failed" if failed else "succeeded",
        "blessed": blessed,
        "gates": gates,
        "model": _model(pipeline, outputs),
        **(failure_fields or {"error": None, "failed_task": None}),
        "run_dir": str(run_dir),
    }


def summarize_monitoring(pipeline: Pipeline, run_dir: Path, log: str, returncode: int) -> dict:
    """The monitoring run summary: the training summary's keys plus drift, reference, outcome."""
    outputs = task_outputs(run_dir)
    failure_fields = failure(log, returncode)
    failed = failure_fields is not None
    gates = _gates(pipeline, outputs, run_dir)
    drift, live = gates["drift"], gates.get("live_performance")
    drifted = None if drift is None or drift["passed"] is None else not drift["passed"]
    # Cannot judge (no labels yet, alias not set, every label refused): neither failed nor not.
    unjudged = (
        live is None or live["passed"] is None or (live.get("report") or {}).get("cannot_judge")
    )
    decayed = None if unjudged else not live["passed"]
    retrained = pipeline.train_task in outputs
    trained = [gates[g] for g in TRAINING_GATES]
    blessed = None if failed or not retrained else all(bool(g and g["passed"]) for g in trained)
    model = _model(pipeline, outputs)
    builder = outputs.get(pipeline.build_task, {})
    not_built = None
    if builder.get("parameters", {}).get("Output") == "":  # the builder's sentence says why
        report = builder.get("artifacts", {}).get("report", {})
        not_built = report.get("metadata", {}).get("message") or "no training set"
    reference = outputs.get("resolve-reference", {}).get("parameters", {}).get("Output")
    current = outputs.get(pipeline.current_task, {}).get("artifacts", {}).get("dataset", {})
    snapshot = current.get("metadata", {})
    return {
        "pipeline": pipeline.name,
        "status": "failed" if failed else "succeeded",
        "drifted": drifted,
        "live_performance_failed": decayed,
        "retrained": retrained,
        "blessed": blessed,
        "outcome": _outcome(failed, drifted, decayed, blessed, model, _live(live), not_built)
        + ("" if not_built else _skipped(gates.get("novelty"))),
        "reference_uri": reference,
        "current": {
            "uri": snapshot.get("source_uri"),
            "rows": _int(snapshot.get("rows")),
            "date_window": snapshot.get("date_window"),
        }
        if snapshot
        else None,
        "gates": gates,
        "model": model,
        **(failure_fields or {"error": None, "failed_task": None}),
        "run_dir": str(run_dir),
    }


def summarize_deploy(pipeline: Pipeline, run_dir: Path, log: str, returncode: int) -> dict:
    """The deploy run summary: `blessed` is whether the version was promoted to all traffic."""
    outputs = task_outputs(run_dir)
    failure_fields = failure(log, returncode)
    gates = _gates(pipeline, outputs, run_dir)
    deploy = gates["deploy"] or {}
    meta = deploy.get("report", {})
    model = None
    if meta.get("version") is not None:
        version = _int(meta.get("version"))
        promoted = bool(meta.get("promoted"))
        model = {"name": meta.get("model_name"), "version": version}
        model |= {"aliases": ["production"] if promoted else []}
        model |= {"promoted": promoted, "reason": "; ".join(meta.get("reasons", []))}
    return {
        "pipeline": pipeline.name,
        "status": "failed" if failure_fields else "succeeded",
        "blessed": None if failure_fields else bool(deploy.get("passed")),
        "gates": gates,
        "model": model,
        **(failure_fields or {"error": None, "failed_task": None}),
        "run_dir": str(run_dir),
    }


def summarize_compare_live(pipeline: Pipeline, run_dir: Path, log: str, returncode: int) -> dict:
    """The compare-live run summary: `blessed` is whether the challenger held up."""
    outputs = task_outputs(run_dir)
    failure_fields = failure(log, returncode)
    gates = _gates(pipeline, outputs, run_dir)
    meta = (gates["live_comparison"] or {}).get("report", {})
    model = None
    if meta.get("challenger_version"):
        model = {"name": meta.get("model_name"), "version": _int(meta["challenger_version"])}
        model |= {"champion_version": _int(meta.get("champion_version") or None)}
    return {
        "pipeline": pipeline.name,
        "status": "failed" if failure_fields else "succeeded",
        "blessed": None if failure_fields else bool((gates["live_comparison"] or {}).get("passed")),
        "gates": gates,
        "model": model,
        **(failure_fields or {"error": None, "failed_task": None}),
        "run_dir": str(run_dir),
    }


# The tool's summarizer of each pipeline (the descriptors, a layer below, name none).
SUMMARIZERS = {
    "training": summarize_training,
    "monitoring": summarize_monitoring,
    "deploy": summarize_deploy,
    "compare-live": summarize_compare_live,
    "monitoring-fleet": summarize_fleet,
}


def summarize(name: str, run_dir: Path, log: str, returncode: int) -> dict[str, Any]:
    """Build a pipeline's run summary from a finished run's folder, every string redacted.

    Errors are read from task logs and reasons from task outputs, which may echo a service
    URI or a library's message.
    """
    from pipelines.descriptors import pipeline

    described = pipeline(name)
    return redacted(SUMMARIZERS[described.name](described, run_dir, log, returncode))


def _gates(pipeline: Pipeline, outputs: dict, run_dir: Path) -> dict[str, dict | None]:
    """Gate name → its verdict, numbers and report (None for a gate that did not run)."""
    found = {}
    if "detect-drift" not in outputs:  # a sharded drift run: its reduce is the drift gate
        reduce = next((k for k in sorted(outputs) if k.startswith("merge-drift-states")), None)
        outputs = {**outputs, "detect-drift": outputs[reduce]} if reduce else outputs
    for gate, task in pipeline.gates.items():
        if gate == "validation":
            found[gate] = _validation(outputs.get(task), task, run_dir)
        elif gate in _VERDICT_IN_REPORT:
            found[gate] = _reported(outputs.get(task))
        else:
            found[gate] = _gate(outputs.get(task), inverted=gate in _INVERTED)
    return found


def _gate(task: dict[str, Any] | None, inverted: bool = False) -> dict | None:
    if task is None:
        return None
    meta = task["artifacts"].get("report", {}).get("metadata", {})
    numbers = task["artifacts"].get("metrics", {}).get("metadata", {})
    returned = task["parameters"].get("Output")
    passed = meta.get("passed") if returned is None else (not returned if inverted else returned)
    found = {"passed": passed, "reasons": meta.get("reasons", []), "metrics": numbers}
    if inverted:
        found["prediction_drifted"] = meta.get("prediction_drifted")
    return found | {"report": meta}


def _reported(task: dict[str, Any] | None) -> dict | None:
    """A gate whose verdict is its report's `passed`; None when it did not run or skipped."""
    if task is None:
        return None
    meta = task["artifacts"].get("report", {}).get("metadata", {})
    if meta.get("skipped") or "passed" not in meta:
        return None
    numbers = task["artifacts"].get("metrics", {}).get("metadata", {})
    # Per bound: status passed, failed or not_judged, and the reason for it.
    checks = {
        metric: {"status": c.get("status"), "reason": c.get("reason")}
        for metric, c in meta.get("checks", {}).items()
    }
    found = {"passed": meta["passed"], "reasons": meta.get("reasons", []), "metrics": numbers}
    return found | {"checks": checks, "report": meta}


def _validation(task: dict[str, Any] | None, task_key: str, run_dir: Path) -> dict | None:
    if task is not None:
        meta = task["artifacts"].get("report", {}).get("metadata", {})
        return {
            "passed": meta.get("passed", True),
            "reasons": meta.get("reasons", []),
            "metrics": task["artifacts"].get("metrics", {}).get("metadata", {}),
            "report": meta,
        }
    # A failed validation writes its GX result before raising; read the counts from it.
    results = list((run_dir / "outputs").glob(f"*/{task_key}/validation"))
    if not results:
        return None
    try:
        stats = json.loads(results[0].read_text()).get("statistics", {})
    except (OSError, ValueError):
        stats = {}
    return {
        "passed": False,
        "reasons": [],
        "metrics": {
            "expectations_evaluated": stats.get("evaluated_expectations"),
            "expectations_failed": stats.get("unsuccessful_expectations"),
        },
        "report": {},
    }


def _model(pipeline: Pipeline, outputs: dict) -> dict | None:
    task = outputs.get(pipeline.register_task, {})
    reg_meta = task.get("artifacts", {}).get("registered_model", {}).get("metadata", {})
    if not reg_meta.get("registered"):
        return None
    return {
        "name": reg_meta.get("name"),
        "version": _int(reg_meta.get("version")),
        "aliases": reg_meta.get("aliases", []),
        "promoted": reg_meta.get("promoted"),
        "reason": reg_meta.get("reason"),
    }


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None  # kfp.local turns ints into floats


def _live(live: dict | None) -> str:
    """The live-performance gate in a few words: a bound it did not judge is not "within"."""
    statuses = {c.get("status") for c in (live or {}).get("checks", {}).values()}
    if live is None or live["passed"] is None:
        return ""
    if (live.get("report") or {}).get("cannot_judge"):
        return "cannot be judged"
    if live["passed"]:
        return (
            "not judged yet (too few judged days)" if "not_judged" in statuses else "within bounds"
        )
    if "failed" in statuses:
        return "below bound"
    return "could not be judged" if "not_judged" in statuses else "not passed"


def _outcome(
    failed: bool,
    drifted: bool | None,
    decayed: bool | None,
    blessed: bool | None,
    model: dict | None,
    live: str,
    not_built: str | None = None,
) -> str:
    if failed:
        return "failed"
    if not drifted and not decayed:
        return "no drift" + (f"; live performance {live}" if live else "")
    why = " and ".join(
        w for w, on in (("drifted", drifted), (f"live performance {live}", decayed)) if on
    )
    if not_built:  # too few labelled rows, or nothing to train on
        return f"{why} → not retrained: {not_built}"
    if blessed:
        return f"{why} → retrained: blessed" + (f" (model v{model['version']})" if model else "")
    return f"{why} → retrain skipped" if blessed is None else f"{why} → retrained: rejected"


def _skipped(novelty: dict | None) -> str:
    """Why check_novelty skipped the retrain ("" when it did not run or let it go ahead)."""
    if novelty is None or novelty["passed"] is not False:
        return ""
    return ": " + "; ".join(novelty["reasons"])
