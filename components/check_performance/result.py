"""The live-performance gate's result, and the verdicts of a gate that cannot judge.

A gate that cannot judge never says passed: `cannot_judge` results are not passed, and the
monitoring pipeline asks no retrain on their account (nothing says the model is worse).
"""

from dataclasses import dataclass, field
from datetime import date

from components._shared.labels.accept import LabelCounts
from components.check_performance.bounds import MetricCheck
from components.check_performance.join import JoinCounts
from components.check_performance.served import Served


@dataclass(frozen=True)
class DayPerformance:
    """One day of predictions (the prediction's UTC day) and how they did once labelled."""

    day: date
    predictions: int
    labelled: int
    late_labels: int
    judged: bool  # at least min_labels_per_day labelled rows
    values: dict[str, float | None]  # metric -> value (empty when not judged)
    unscored: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value


@dataclass(frozen=True)
class PerformanceResult:
    """The gate's verdict, its reasons and every number behind them."""

    passed: bool
    reasons: list[str]  # why it failed (empty when passed)
    notes: list[str]  # what a reader should know: labels not used, days not judged
    days: list[DayPerformance]
    window: dict[str, float | None]
    checks: list[MetricCheck]  # one per bound, each with its status and the reason for it
    counts: JoinCounts
    classes: list
    positive_class: object  # None for multiclass (macro averages)
    min_days: int
    min_labels_per_day: int
    max_label_delay_days: float
    label_counts: LabelCounts | None = None  # what the label_schema filter kept and refused
    # No verdict at all: every label refused by label_schema, the alias not set, or no label
    # file under labels_uri yet. Not passed; asks no retrain.
    cannot_judge: bool = False
    served: Served | None = None  # the version judged, and the other versions' rows left out


def cannot_judge(
    reason: str,
    notes: list[str],
    predictions: int,
    settings: dict,
    *,
    label_counts: LabelCounts | None = None,
    served: Served | None = None,
) -> PerformanceResult:
    """A result that judged nothing: not passed, `reason` first, every count zero but these."""
    empty = JoinCounts(predictions, 0, 0, 0, 0, 0, 0, 0, 0, predictions)
    return PerformanceResult(
        passed=False,
        reasons=[reason],
        notes=notes,
        days=[],
        window={},
        checks=[],
        counts=empty,
        classes=[],
        positive_class=None,
        label_counts=label_counts,
        cannot_judge=True,
        served=served,
        **settings,
    )


def labels_refused(predictions: int, label_counts: LabelCounts, settings: dict):
    """label_schema refused every label: they say nothing about the model."""
    refused = "; ".join(f"{n} {reason}" for reason, n in label_counts.refusals().items())
    reason = (
        f"cannot judge: label_schema {label_counts.pinned} refused all {label_counts.read} "
        f"labels ({refused}); label them in {label_counts.pinned} (a `schema_version` column "
        "or Parquet metadata), register a version declaring a mapping from theirs, or pin "
        "the version they follow"
    )
    notes = label_counts.lines()
    return cannot_judge(reason, notes, predictions, settings, label_counts=label_counts)


def alias_not_set(predictions: int, served: Served, settings: dict) -> PerformanceResult:
    """The alias names no version: which predictions are the served model's is unknown.

    Judging every version instead could fail a model on its predecessor's days (or pass it
    on them): nothing is judged, and the gate does not say passed.
    """
    reason = (
        f"cannot judge: models:/{served.model}@{served.alias} is not set, so which version "
        f"serves (and whose {predictions} logged predictions to judge) is unknown; set the "
        f"alias (promote a version), or judge every version with an empty alias "
        "(monitoring: prediction_drift_alias='')"
    )
    return cannot_judge(reason, [served.line()], predictions, settings, served=served)


def no_labels_yet(labels_uri: str, settings: dict) -> PerformanceResult:
    """labels_uri is a reachable folder or prefix with no label file in it yet.

    A new deployment's first scheduled runs: nothing to judge yet, which is not a failure.
    """
    reason = (
        f"cannot judge yet: no labels under {labels_uri} (no CSV or Parquet file there); "
        "the gate judges once labels arrive there"
    )
    return cannot_judge(reason, [], 0, settings)
