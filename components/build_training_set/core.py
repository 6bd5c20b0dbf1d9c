"""Build a training set from production: the log's inputs of a window joined with their labels."""

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from components._shared.errors import ConfigError
from components._shared.io.partitions import DateWindow
from components._shared.labels.accept import accept_labels
from components._shared.labels.read import read_label_sources
from components._shared.labels.rowkeys import latest_labels, prepare_labels
from components.build_training_set import assemble
from components.build_training_set.champion_data import champion_data
from components.build_training_set.logjoin import join_log
from components.build_training_set.parquet import parquet_bytes

NOTHING = "no labels_uri and no retrain_data_uri: nothing to retrain on"


@dataclass(frozen=True)
class BuildResult:
    """The training set's reference ("" when none was built), why, and every count behind it."""

    reference: str
    message: str  # one sentence: what was built, or why nothing was
    counts: dict = field(default_factory=dict)
    label_counts: dict = field(default_factory=dict)  # the schema filter's (accept_labels)
    notes: list[str] = field(default_factory=list)  # labels and rows not used, and why
    window: str = ""
    created: bool = False  # False: the same set was stored already (or nothing was built)
    manifest: dict = field(default_factory=dict)


def dataset_name(model_name: str) -> str:
    """The dataset a model's training sets are versions of: its name in the store's syntax."""
    name = re.sub(r"[^a-z0-9._-]", "-", model_name.lower()).lstrip("._-")[:63]
    if not name:
        raise ConfigError(f"model_name {model_name!r} gives no dataset name; name the model")
    return name


def _notes(counts: dict) -> list[str]:
    said = {
        "unknown_labels": "labels name no prediction in the window (unknown request id or row)",
        "duplicate_labels": "labels repeat a labelled row (the latest time wins)",
        "late_labels": "labels arrived after max_label_delay_days (not used)",
        "ambiguous_labels": "labels have no `row` for a request of several rows (not used)",
        "null_labels": "labels are empty (not used)",
        "refused_labels": "labels refused by the label schema (see the schema counts)",
        "duplicate_predictions": "labelled rows were logged twice (the earliest is kept)",
        "duplicate_rows": "identical rows dropped from the training set",
    }
    return [f"{counts[k]} {what}" for k, what in said.items() if counts.get(k)]


def build_training_set(
    *,
    retrain_data_uri: str,
    predictions_uri: str,
    window: DateWindow,
    labels_uri: str,
    label_schema: str,
    max_label_delay_days: float,
    target_column: str,
    model_name: str,
    include_champion_data: bool,
    min_labelled_rows: int,
) -> BuildResult:
    """The training set's dataset version, or "" with the reason when there is nothing to build.

    A fixed `retrain_data_uri` is returned as it is. Otherwise the log's inputs of every row
    in the window that a label names (latest label per row, within max_label_delay_days,
    of the pinned label schema) become the rows, the labels the target column; with fewer
    than min_labelled_rows such rows nothing is stored. The champion's training data is
    unioned when asked for, identical rows dropped, the columns checked against the
    champion's inputs, and the rows sorted, so the same inputs give the same version.

    Raises:
        ConfigError: min_labelled_rows below 1, or a target column that is a log input.
        DataError: Unreadable log or labels, no part in the window, columns that no longer
            match the model's inputs, champion data that cannot be read or changed.
        ServiceError: S3 or MLflow does not answer.
    """
    if retrain_data_uri:
        return BuildResult(
            retrain_data_uri, f"a fixed retrain_data_uri is given: {retrain_data_uri}"
        )
    if not labels_uri:
        return BuildResult("", NOTHING)
    if min_labelled_rows < 1:
        raise ConfigError(f"min_labelled_rows={min_labelled_rows}; give 1 or more")
    read, label_sources = read_label_sources(labels_uri)
    kept, label_counts = accept_labels(read, label_schema)
    labels, nulls = prepare_labels(kept)
    labels, duplicates = latest_labels(labels)
    joined = join_log(predictions_uri, window, labels, max_label_delay_days)
    if target_column in joined.columns:
        raise ConfigError(
            f"target_column {target_column!r} is one of the log's inputs {joined.columns}; "
            "give the name of the labelled column the model predicts"
        )
    rows = joined.frame()
    used = len(rows)
    counts = {
        "predictions": joined.predictions,
        "log_parts": len(joined.parts),
        "labels": len(read),
        "refused_labels": label_counts.refused,
        "null_labels": nulls,
        "duplicate_labels": duplicates,
        "late_labels": joined.late_labels,
        "ambiguous_labels": joined.ambiguous_labels,
        "unknown_labels": len(labels) - used - joined.late_labels - joined.ambiguous_labels,
        "duplicate_predictions": joined.duplicate_predictions,
        "labelled_rows": used,
    }
    facts = {"counts": counts, "label_counts": label_counts.as_dict(), "window": str(window)}
    if used < min_labelled_rows:
        message = (
            f"no retrain: {used} labelled rows in {window}, fewer than min_labelled_rows "
            f"({min_labelled_rows})"
        )
        return BuildResult("", message, notes=_notes(counts), **facts)
    champion = champion_data(model_name, include_champion_data)
    frame = rows[joined.columns].assign(**{target_column: None})
    like = None
    if champion is not None and champion.frame is not None and target_column in champion.frame:
        like = champion.frame[target_column]
    frame[target_column] = assemble.typed_target(rows["label"], like).to_numpy()
    if champion is not None and champion.frame is not None:
        frame = assemble.union(frame, champion.frame, target_column)
        counts["champion_rows"] = len(champion.frame)
    frame, counts["duplicate_rows"] = assemble.canonical(frame)
    extra = []
    if champion is not None and champion.inputs is not None:
        extra = assemble.check_inputs(frame, champion.inputs, target_column)
    counts["rows"] = len(frame)
    notes = _notes(counts) + [f"columns the champion does not take as inputs: {extra}"] * bool(
        extra
    )
    manifest, created = _store(
        frame, model_name, window, label_schema, joined, label_sources, champion
    )
    message = (
        f"built {manifest['reference']}: {counts['rows']} rows ({used} labelled in {window}"
        + (
            f", {counts['champion_rows']} from the champion's data"
            if "champion_rows" in counts
            else ""
        )
        + ")"
        + ("" if created else "; the same set was stored already")
    )
    return BuildResult(
        manifest["reference"], message, notes=notes, created=created, manifest=manifest, **facts
    )


def _store(frame, model_name, window, label_schema, joined, label_sources, champion):
    from components._shared.datasets.store import add_file, window_dict

    sources = [*joined.sources, *label_sources]
    parents = [champion.parent] if champion is not None and champion.parent else []
    if champion is not None and champion.frame is not None and not champion.parent:
        sources.append({"uri": champion.source, "sha256": champion.sha256, "kind": "champion data"})
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-trainset-") as tmp:
        path = Path(tmp) / "training_set.parquet"
        path.write_bytes(parquet_bytes(frame))
        return add_file(
            path,
            dataset_name(model_name),
            sources=sources,
            time_window=window_dict(window),
            label_schema_version=label_schema or None,
            parents=parents,
        )
