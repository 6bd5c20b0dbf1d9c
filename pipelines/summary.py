"""What a run did, read back from its outputs: the gates' verdicts, the model, the error.

Task outputs are read from kfp.local's executor_output.json files, so the summary reports
what the components wrote, not what the runner assumed (kfp.local's own task status can
be wrong, e.g. for containers).
"""

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from components._shared.redact import redact

EXIT_BLESSED, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3
GATE_TASKS = {
    "validation": "validate-data",
    "evaluation": "evaluate-model",
    "fairness": "check-fairness",
}
_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")
_OWN_ERRORS = ("DataError", "ConfigError", "ServiceError")


def task_outputs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Task key → {"parameters": {...}, "artifacts": {name: {"uri", "metadata"}}}."""
    found: dict[str, dict[str, Any]] = {}
    for output_file in sorted((run_dir / "outputs").glob("*/*/executor_output.json")):
        raw = json.loads(output_file.read_text())
        artifacts = {
            name: {
                "uri": a["artifacts"][0]["uri"],
                "metadata": a["artifacts"][0].get("metadata", {}),
            }
            for name, a in raw.get("artifacts", {}).items()
            if a.get("artifacts")
        }
        found[output_file.parent.name] = {
            "parameters": raw.get("parameterValues", {}),
            "artifacts": artifacts,
        }
    return found


def failure(log: str, returncode: int) -> dict[str, Any] | None:
    """`error` and `failed_task` of a failed run (None when it did not fail)."""
    failed_task = re.search(r"Inner task failed: '?([\w-]+)", re.sub(r"\x1b\[[0-9;]*m", "", log))
    if returncode == 0 and failed_task is None:
        return None
    task = failed_task[1] if failed_task else None
    return {"error": _error_from_log(log) or f"task {task or '?'} failed", "failed_task": task}


def _error_from_log(log: str) -> str | None:
    """The most telling error line of a failed run: our own errors first, then any other."""
    lines = [m for m in (_ERROR_LINE.match(line) for line in log.splitlines()) if m]
    own = [m for m in lines if m[1] in _OWN_ERRORS]
    chosen = (own or [m for m in lines if m[1] != "RuntimeError"] or lines or [None])[-1]
    return f"{chosen[1]}: {chosen[2]}" if chosen else None


def _gate(
    task: dict[str, Any] | None, report: str = "report", metrics: str = "metrics"
) -> dict | None:
    if task is None:
        return None
    meta = task["artifacts"].get(report, {}).get("metadata", {})
    numbers = task["artifacts"].get(metrics, {}).get("metadata", {})
    passed = task["parameters"].get("Output", meta.get("passed"))
    return {
        "passed": passed,
        "reasons": meta.get("reasons", []),
        "metrics": numbers,
        "report": meta,
    }


def _validation(outputs: dict, run_dir: Path) -> dict | None:
    task = outputs.get(GATE_TASKS["validation"])
    if task is not None:
        meta = task["artifacts"].get("report", {}).get("metadata", {})
        return {
            "passed": meta.get("passed", True),
            "reasons": meta.get("reasons", []),
            "metrics": task["artifacts"].get("metrics", {}).get("metadata", {}),
            "report": meta,
        }
    # A failed validation writes its GX result before raising; read the counts from it.
    results = list((run_dir / "outputs").glob(f"*/{GATE_TASKS['validation']}/validation"))
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


def redacted(value: Any, environ: dict[str, str] | None = None) -> Any:
    """A summary with every string passed through `redact` (keys, values, nested lists)."""
    if isinstance(value, str):
        return redact(value, environ)
    if isinstance(value, dict):
        return {redacted(k, environ): redacted(v, environ) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v, environ) for v in value]
    return value


def summarize(name: str, run_dir: Path, log: str, returncode: int) -> dict[str, Any]:
    """Build the run summary (the `--output json` object) from a finished run's folder.

    Every string in it is redacted: errors are read from task logs and reasons from task
    outputs, which may echo a service URI or a library's message.
    """
    if name == "monitoring":
        from pipelines.summary_monitoring import summarize_monitoring

        return redacted(summarize_monitoring(run_dir, log, returncode))
    outputs = task_outputs(run_dir)
    failure_fields = failure(log, returncode)
    failed = failure_fields is not None
    gates = training_gates(outputs, run_dir)
    model = _model(outputs)
    blessed = None if failed else all(bool(g and g["passed"]) for g in gates.values())
    return redacted(
        {
            "pipeline": name,
            "status": "failed" if failed else "succeeded",
            "blessed": blessed,
            "gates": gates,
            "model": model,
            **(failure_fields or {"error": None, "failed_task": None}),
            "run_dir": str(run_dir),
        }
    )


def training_gates(outputs: dict, run_dir: Path) -> dict[str, dict | None]:
    """The training pipeline's gates (None for a gate that did not run)."""
    return {
        "validation": _validation(outputs, run_dir),
        "evaluation": _gate(outputs.get(GATE_TASKS["evaluation"])),
        "fairness": _gate(outputs.get(GATE_TASKS["fairness"])),
    }


def _model(outputs: dict) -> dict | None:
    registered = outputs.get("register-model", {}).get("artifacts", {}).get("registered_model", {})
    reg_meta = registered.get("metadata", {})
    model = None
    if reg_meta.get("registered"):
        model = {
            "name": reg_meta.get("name"),
            "version": _int(reg_meta.get("version")),
            "aliases": reg_meta.get("aliases", []),
            "promoted": reg_meta.get("promoted"),
            "reason": reg_meta.get("reason"),
        }
    return model


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None  # kfp.local turns ints into floats


def exit_code(summary: dict[str, Any]) -> int:
    """0 succeeded and blessed (or no drift), 3 completed but a gate rejected, 1 failed."""
    if summary["status"] != "succeeded":
        return EXIT_FAILED
    if summary.get("drifted") is False:
        return EXIT_BLESSED  # monitoring: nothing to retrain
    return EXIT_BLESSED if summary["blessed"] else EXIT_REJECTED


# Numbers worth a glance per gate (the full set is in --output json and the run folder).
_HEADLINE = {
    "validation": ["expectations_evaluated", "expectations_failed", "rows"],
    "evaluation": ["accuracy", "f1", "roc_auc", "latency_p95_ms"],
    "fairness": ["demographic_parity_difference", "equalized_odds_difference"],
    "drift": ["drift_share", "columns_compared", "columns_drifted", "prediction_drifted"],
}


def _numbers(gate: str, metrics: dict[str, Any]) -> str:
    shown = [f"{k}={_short(metrics[k])}" for k in _HEADLINE[gate] if metrics.get(k) is not None]
    return ", ".join(shown)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


def _line(value: Any) -> str:
    """Text from data on one terminal line, control characters shown as escapes.

    A column name holding a line break or an ESC cannot start a line of its own (a forged
    verdict) or send terminal control sequences.
    """
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp")
        else ch
        for ch in str(value)
    )


def render_text(summary: dict[str, Any], mlflow_url: str | None = None) -> str:
    """The human summary printed at the end of a run, redacted.

    The MLflow URL may carry a user and password, and a summary not built by `summarize`
    may hold raw messages.
    """
    status = summary["status"].upper()
    if summary["status"] == "failed":
        headline = f"FAILED at {summary.get('failed_task') or 'a task'}"
    elif summary.get("outcome"):
        headline = summary["outcome"]
    elif summary["blessed"]:
        headline = "model blessed" + (" and registered" if summary["model"] else "")
    else:
        headline = "model rejected by a gate; nothing registered"
    lines = [
        "",
        f"Pipeline {summary['pipeline']}: {status} "
        f"in {summary.get('duration_s', '?')} s — {headline}",
        "",
    ]
    if summary.get("reference_uri"):
        lines.append(f"  reference  {_line(summary['reference_uri'])}")
    for gate, result in summary["gates"].items():
        if result is None:
            lines.append(f"  {gate:<11} not run")
            continue
        failed_as = {"validation": "FAILED", "drift": "DRIFTED"}.get(gate, "REJECTED")
        verdict = {True: "passed", False: failed_as}.get(result["passed"], "?")
        lines.append(f"  {gate:<11} {verdict:<9} {_numbers(gate, result['metrics'])}")
        lines += [f"  {'':<11} {'':<9} · {_line(reason)}" for reason in result["reasons"][:6]]
    model = summary.get("model")
    lines.append("")
    if model:
        aliases = _line(", ".join(model["aliases"]) or "none")
        lines.append(
            f"  model      {_line(model['name'])} version {model['version']} (aliases: {aliases})"
        )
        if model.get("reason"):
            lines.append(f"  {'':<11}{_line(model['reason'])}")
    else:
        lines.append("  model      none registered")
    if summary.get("error"):
        lines.append(f"  error      {_line(summary['error'])}")
    lines.append("")
    if mlflow_url:
        target = f"/#/models/{model['name']}" if model else ""
        lines.append(f"  MLflow UI  {mlflow_url}{target}")
    lines.append(f"  artifacts  {summary['run_dir']}/outputs  (log: {summary['run_dir']}/run.log)")
    return redact("\n".join(lines))
