"""One map task of a sharded drift run: one side's row groups → its mergeable state on disk.

The rows are read by the one-pod reader (components/_shared/io/sources.py, ParquetSource):
a new reader per row group (the footer reused), text dictionary-encoded (categories counted
by index), batches of BATCH_ROWS rows, every batch cast to the side's schema the plan took
from the side's first part, as one pod casts to it. Memory: one row group's batch plus the
side's state, which the plan keeps within state.STATE_BUDGET_BYTES, plus the model if any.

With a model (the version the plan pinned), its output on every row becomes the column
`prediction` (detect_drift/prediction.py, as in one pod) and is also written, in the order
read, to a Parquet file of that one column: the reduce reads it back for what the first pass
cannot settle (the prediction's grid, on edges only the merged states give; exact
re-scoring), so no pod but the map tasks ever scores a row.

Where the state goes: `<out>/state.npz` and its sha256 sidecar (the artifact is a folder so
both travel together), and with fan_in "s3" also under the run's prefix
(`state_prefix`), for backends that cannot collect artifacts.
"""

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components._shared.errors import ConfigError, DataError
from components._shared.io.s3 import upload_file
from components._shared.io.sources import ParquetSource, open_source
from components.detect_drift import state, state_io
from components.detect_drift.prediction import PREDICTION, PredictedSource
from components.detect_drift.sharding import STATE_FILE


def _part(uri: str, side: str, schema: pa.Schema) -> ParquetSource:
    source = open_source(uri, side)
    if not isinstance(source, ParquetSource):
        raise DataError(f"{uri} is not Parquet: a shard reads Parquet row groups")
    source.schema = schema  # the side's (its first part's), as one pod reads every part
    return source


def shard_batches(shard: dict, names: list[str], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The shard's row groups, part by part, in batches of at most BATCH_ROWS rows.

    `schema`: the side's, which every batch is cast to (the plan's `schemas`).
    """
    by_part: dict[str, list[int]] = {}
    for part, group, _ in shard["groups"]:
        by_part.setdefault(part, []).append(int(group))
    for part, groups in by_part.items():
        uri = shard["uri"] if not part else shard["uri"].rstrip("/") + "/" + part
        source = _part(uri, shard["side"], schema)
        missing = [n for n in names if n not in source.part_files()[0][1].schema_arrow.names]
        if missing:
            raise DataError(f"{uri} lacks columns {missing} the plan compares")
        count = source.part_files()[0][1].num_row_groups
        for group in groups:
            if not 0 <= group < count:
                raise DataError(
                    f"{uri} has {count} row groups, the shard names group {group}: "
                    "the data changed after the plan; run the plan again"
                )
        yield from source.batches(names, groups=groups)


class ShardSource:
    """One shard as a source (what PredictedSource wraps): its side's schema, its batches."""

    def __init__(self, shard: dict, schema: pa.Schema):
        self.shard, self.schema = shard, schema
        self.uri, self.num_rows = shard["uri"], None

    def batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """The selected columns of the shard's row groups."""
        return shard_batches(self.shard, columns, self.schema)


def _written(batches, path: Path, kind: pa.DataType) -> Iterator[pa.RecordBatch]:
    """`batches` passed on, their prediction column written to `path` as they go."""
    with pq.ParquetWriter(path, pa.schema([pa.field(PREDICTION, kind)])) as writer:
        for batch in batches:
            writer.write_batch(batch.select([PREDICTION]))
            yield batch


def count_shard(
    plan: state.Plan, shard: dict, schema: pa.Schema, model=None, predictions: str | None = None
) -> state.ColumnStates:
    """The shard's side state under `plan`, its rows read as `schema`.

    With a `model` (the plan has a `prediction` column), its outputs are counted too and
    written to `predictions` (a Parquet file of that column, in the order read).
    """
    if shard.get("side") not in state.SIDES:
        raise ConfigError(f"shard {shard!r}: side must be one of {state.SIDES}")
    names = list(plan.columns)
    if (model is not None) != (PREDICTION in names) or (model is not None and not predictions):
        raise ConfigError(
            f"the plan {'compares' if PREDICTION in names else 'has no'} column {PREDICTION!r}"
            f" but the shard was given {'a' if model is not None else 'no'} model (and a "
            "predictions path with it): count a shard with the plan's own pinned model"
        )
    source = ShardSource(shard, schema)
    if model is None:
        return state.partial(source.batches(names), plan, shard["side"])
    scored = PredictedSource(source, model, shard["side"])
    kind = scored.schema.field(PREDICTION).type
    batches = _written(scored.batches(names), Path(predictions), kind)
    return state.partial(batches, plan, shard["side"])


def save_shard(
    states: state.ColumnStates, shard: dict, out: str, s3_prefix: str = "", notes=None
) -> str:
    """Save to `out/state.npz` (+ sidecar); also under `s3_prefix` when given. The sha256.

    `notes` travel inside the state file, under its sha256 (where its predictions are).
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    digest = state_io.save(states, path, notes)
    if s3_prefix:
        name = f"{shard['side']}-{int(shard['index']):03d}.npz"
        upload_file(path, s3_prefix + name)  # the state first, its sidecar last
        upload_file(state_io.sidecar(path), s3_prefix + name + ".sha256")
    return digest


def write_no_predictions(path: str) -> None:
    """A Parquet file of no predictions (a run without a model still fills the output)."""
    pq.write_table(pa.table({PREDICTION: pa.array([], pa.float64())}), path)
