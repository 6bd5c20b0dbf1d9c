"""The month's nights: the monitoring pipeline run for one day, and what each night recorded.

Each night runs `kfp-mlops run-local monitoring --params FILE -p ...` in-process against the
session stack, with the run's day passed explicitly: the drift window is the day itself
(current_start_date = current_end_date = the day), the live-performance window the
PERFORMANCE_DAYS days ending it. Its gates push to a real Pushgateway; after the run the
night keeps what the Pushgateway then holds for the model.

The closed loop's parameters (retrain on production data under a label schema) come in as
one dict, `extra`, written into the params file (tests/test_month_in_the_life.py's
LOOP_PARAMS); the per-night retrain window is passed with the night's day.
"""

import contextlib
import io
import json
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml

from tests.month_world import World, day

PERFORMANCE_DAYS = 14  # the live-performance window: the 14 days ending the night's day
MIN_DAYS = 3  # judged days below the bound before the gate fails
MIN_LABELS_PER_DAY = 30


@dataclass
class Night:
    """What one night's monitoring run decided, as the run summary and the Pushgateway say."""

    day: int
    seconds: float
    code: int
    outcome: str
    drifted: bool | None
    drift_share: float | None
    performance_failed: bool | None
    accuracy: float | None  # the live accuracy of the last judged day, when judged
    retrain: str  # "none", "skipped: <why>", "rejected", "registered vN", "promoted vN"
    version: int | None
    error: str | None
    pushed: dict[str, float] = field(default_factory=dict)  # "name{gate=..}" -> value

    def line(self) -> str:
        """One line of the month's table."""
        drift = "DRIFT" if self.drifted else "ok" if self.drifted is False else "-"
        perf = (
            "LOW" if self.performance_failed else "ok" if self.performance_failed is False else "-"
        )
        acc = f"{self.accuracy:.3f}" if self.accuracy is not None else "  -  "
        share = f"{self.drift_share:.2f}" if self.drift_share is not None else " -  "
        return (
            f"day {self.day:2d} {self.seconds:6.1f}s exit {self.code}  drift {drift:5} "
            f"share {share}  perf {perf:3} acc {acc}  retrain {self.retrain}"
        )


def base_params(world: World, retrain_data_uri: str, extra: dict) -> dict:
    """The parameters every night shares: the model, where its log and labels are, the bounds."""
    return {
        "model_name": world.model,
        "current_uri": world.model_log,
        "predictions_uri": world.model_log,
        "labels_uri": world.labels_prefix,
        "retrain_data_uri": retrain_data_uri,
        "performance_bounds": {"accuracy": 0.7},
        "performance_min_days": MIN_DAYS,
        "performance_min_labels_per_day": MIN_LABELS_PER_DAY,
        **extra,
    }


def night_params(n: int) -> dict[str, str]:
    """The run's day passed explicitly: the drift window is day n, performance the days to n."""
    first = max(1, n - PERFORMANCE_DAYS + 1)
    return {
        "current_start_date": day(n),
        "current_end_date": day(n),
        "performance_start_date": day(first),
        "performance_end_date": day(n),
    }


@contextlib.contextmanager
def stack_env(stack, pushgateway):
    """The env `kfp-mlops` reads to reach the session stack; tasks push to the Pushgateway."""
    import pytest

    from components._shared.verdicts.pushgateway import PUSHGATEWAY_ENV

    patch = pytest.MonkeyPatch()
    patch.setenv(PUSHGATEWAY_ENV, pushgateway.url)  # kfp.local's tasks inherit os.environ
    patch.setenv("KFP_MLOPS_HOME", str(stack.home))
    patch.setenv("KFP_MLOPS_S3_PORT", str(stack.s3_port))
    patch.setenv("KFP_MLOPS_MLFLOW_PORT", str(stack.mlflow_port))
    try:
        yield
    finally:
        patch.undo()


def kfp_mlops(stack, pushgateway, *args: str) -> tuple[int, str]:
    """`kfp-mlops ARGS` in-process against the session stack: (exit code, stdout)."""
    from kfp_mlops.cli.main import main

    out = io.StringIO()
    quiet = io.StringIO()
    with (
        stack_env(stack, pushgateway),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(quiet),
    ):
        code = main(list(args))
    return code, out.getvalue()


def run_local(
    stack, pushgateway, pipeline: str, params_file: Path | None, per_run: dict
) -> tuple[int, dict]:
    """`kfp-mlops run-local PIPELINE [--params FILE] -p ... --output json`; (code, summary)."""
    args = ["run-local", pipeline, "--output", "json"]
    args += ["--params", str(params_file)] if params_file else []
    for key, value in per_run.items():
        args += ["-p", f"{key}={value}"]
    code, out = kfp_mlops(stack, pushgateway, *args)
    return code, json.loads(out)


def _retrain(summary: dict) -> str:
    """What the night's retrain came to, in the words of the month's table.

    "none" (nothing failed), "not built: <why>" (too few labelled rows: no training set),
    "skipped: <why>" (check_novelty: nothing new to learn from), "rejected", or
    "registered vN" / "promoted vN".
    """
    outcome = summary.get("outcome", "")
    if "→ not retrained: " in outcome:
        return "not built: " + outcome.partition("→ not retrained: ")[2]
    novelty = (summary.get("gates") or {}).get("novelty") or {}
    if novelty.get("passed") is False:
        return "skipped: " + "; ".join(novelty.get("reasons") or ["nothing new"])
    if not summary["retrained"]:
        return "none"
    model = summary["model"]
    if not summary["blessed"] or model is None:
        return "rejected"
    promoted = "champion" in (model.get("aliases") or [])
    return f"{'promoted' if promoted else 'registered'} v{model['version']}"


def _pushed(pushgateway, model: str) -> dict[str, float]:
    """What the Pushgateway holds for the model now: `name{gate=…,metric=…}` → value."""
    held = {}
    for name, labels, value in pushgateway.samples():
        if labels.get("model") != model:
            continue
        keys = ",".join(
            f"{k}={labels[k]}" for k in ("pipeline", "gate", "metric", "column") if k in labels
        )
        held[f"{name}{{{keys}}}"] = value
    return held


def night(
    stack, pushgateway, world: World, n: int, params_file: Path, extra: dict | None = None
) -> tuple[Night, dict]:
    """Run night n's monitoring (with per-night `extra` parameters); its record and summary."""
    started = time.monotonic()
    per_night = night_params(n) | (extra or {})
    code, summary = run_local(stack, pushgateway, "monitoring", params_file, per_night)
    seconds = time.monotonic() - started
    gates = summary.get("gates") or {}
    drift, live = gates.get("drift") or {}, gates.get("live_performance") or {}
    version = (summary.get("model") or {}).get("version")
    record = Night(
        day=n,
        seconds=seconds,
        code=code,
        outcome=summary.get("outcome", ""),
        drifted=summary.get("drifted"),
        drift_share=(drift.get("metrics") or {}).get("drift_share"),
        performance_failed=summary.get("live_performance_failed"),
        accuracy=(live.get("metrics") or {}).get("accuracy_last_day"),
        retrain=_retrain(summary),
        version=version,
        error=summary.get("error"),
        pushed=_pushed(pushgateway, world.model),
    )
    return record, summary


def write_params(path: Path, params: dict) -> Path:
    path.write_text(yaml.safe_dump(params, sort_keys=True))
    return path


def dates(first: int, last: int) -> list[str]:
    """The dates of days first..last."""
    start = date.fromisoformat(day(first))
    return [(start + timedelta(days=i)).isoformat() for i in range(last - first + 1)]
