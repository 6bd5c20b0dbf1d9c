"""One row per model of a fleet run, from the gate records its body left in S3; pure.

The rows are read from each model's gate records (`<runs>/<run id>/models/<model>/gates/`)
rather than from the bodies' outputs: a body that failed produces no output, and on KFP a
failed ParallelFor iteration leaves nothing for `dsl.Collected` to collect, while the records
its gates wrote before the failure are still there. A body's steps run in a known order, so a
missing record where one was due says the body stopped there: that row is FAILED and names
the step, and the other rows are unaffected.
"""

from dataclasses import dataclass

from components._shared.verdicts.gate_records import GateRecord

PASSED, DRIFTED, RETRAINED, SKIPPED, REJECTED, FAILED = (
    "passed", "drifted", "retrained", "retrain skipped", "retrain rejected", "failed",
)  # fmt: skip
TRAINING_GATES = ("validation", "evaluation", "fairness")
NO_DRIFT_RECORD = "stopped before the drift check finished (failed, or never started)"
MONITORING = "monitoring"  # the pipeline label of each model's run end, as a monitoring run's


@dataclass(frozen=True)
class ModelRow:
    """One model's line of the fleet report.

    Attributes:
        model: The registered model's name.
        outcome: PASSED (nothing to do), RETRAINED (a new version blessed and registered),
            SKIPPED (retrain needed but skipped: the reason), REJECTED (retrained, a gate
            said no), or FAILED (the body stopped: where).
        drift: "no drift", "drifted" or "—" (no record).
        drift_share: The share of drifted columns (None without a drift record).
        performance: "within bounds", "below bounds" or "not checked" (no labels).
        retrain: What happened to the retrain, in words.
        version: The version this run registered (None if none).
        detail: The lines of the gates that decided, for the report.
    """

    model: str
    outcome: str
    drift: str
    drift_share: float | None
    performance: str
    retrain: str
    version: int | None
    detail: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """True when the body stopped before its end."""
        return self.outcome == FAILED


def model_row(
    model: str, records: list[GateRecord], versions: list[int], labels_expected: bool
) -> ModelRow:
    """What one model's records say happened to it (see the module's doc for FAILED)."""
    by_gate = {r.gate: r for r in records}
    drift, perf = by_gate.get("drift"), by_gate.get("live_performance")
    share = drift.metrics.get("drift_share") if drift is not None else None
    row = {
        "model": model,
        "drift": "—" if drift is None else ("no drift" if drift.passed else "drifted"),
        "drift_share": None if share is None else float(share),
        "performance": _performance(perf),
        "version": versions[-1] if versions else None,
        "detail": tuple(f"{r.gate}: {'✓' if r.passed else '✗'} {r.line}" for r in records),
    }

    def done(outcome: str, retrain: str) -> ModelRow:
        return ModelRow(outcome=outcome, retrain=retrain, **row)

    if drift is None:
        return done(FAILED, NO_DRIFT_RECORD)
    if perf is None and labels_expected:
        return done(FAILED, "failed in the live performance check")
    if drift.passed and (perf is None or perf.passed or _cannot_judge(perf)):
        return done(PASSED, "not needed")
    novelty = by_gate.get("novelty")
    if novelty is None:
        return done(FAILED, "failed before the novelty check finished (building the set?)")
    if not novelty.passed:
        return done(SKIPPED, f"skipped: {novelty.line}")
    for gate in TRAINING_GATES:
        record = by_gate.get(gate)
        if record is None:
            return done(FAILED, f"failed in training, before the {gate} gate finished")
        if not record.passed:
            return done(REJECTED, f"retrained, not blessed: {gate}: {record.line}")
    if not versions:
        return done(FAILED, "blessed but not registered (the register step failed)")
    return done(RETRAINED, f"retrained, blessed, registered v{versions[-1]}")


def blessed_of(row: ModelRow) -> bool | None:
    """Whether the model's retrain was blessed; None when nothing was trained."""
    return {RETRAINED: True, REJECTED: False}.get(row.outcome)


def _cannot_judge(perf: GateRecord) -> bool:
    return bool(perf.metrics.get("cannot_judge"))


def _performance(perf: GateRecord | None) -> str:
    if perf is None:
        return "not checked (no labels)"
    if _cannot_judge(perf):
        return f"cannot judge yet: {perf.line}"
    return "within bounds" if perf.passed else "below bounds"


def counts(rows: list[ModelRow]) -> dict[str, int]:
    """How many models ended each way (every outcome present, zeros included)."""
    found = {o: 0 for o in (PASSED, RETRAINED, SKIPPED, REJECTED, FAILED)}
    for row in rows:
        found[row.outcome] += 1
    found["drifted"] = sum(r.drift == "drifted" for r in rows)
    found["below_bounds"] = sum(r.performance == "below bounds" for r in rows)
    return found


def summary_line(rows: list[ModelRow]) -> str:
    """One sentence for the fleet's notification."""
    c = counts(rows)
    parts = [f"{len(rows)} models", f"{c['drifted']} drifted", f"{c['below_bounds']} below bounds"]
    parts += [f"{c[o]} {o}" for o in (RETRAINED, SKIPPED, REJECTED, FAILED) if c[o]]
    failed = [r.model for r in rows if r.failed]
    tail = f" ({', '.join(failed[:10])}{' …' if len(failed) > 10 else ''})" if failed else ""
    return ", ".join(parts) + tail


def model_metrics(rows: list[ModelRow]) -> dict[str, float]:
    """Per-model numbers for the run's metrics artifact: `<model>.<name>`."""
    out: dict[str, float] = {}
    for r in rows:
        out[f"{r.model}.drifted"] = 1.0 if r.drift == "drifted" else 0.0
        if r.drift_share is not None:
            out[f"{r.model}.drift_share"] = r.drift_share
        out[f"{r.model}.below_bounds"] = 1.0 if r.performance == "below bounds" else 0.0
        out[f"{r.model}.retrained"] = 1.0 if r.outcome == RETRAINED else 0.0
        out[f"{r.model}.failed"] = 1.0 if r.failed else 0.0
    return out
