"""One map task of a sharded drift run: one side's row groups → its mergeable state on disk.

The rows are read as the one-pod path reads them (components/_shared/io/sources.py): a new
reader per row group (the footer reused), text dictionary-encoded (categories counted by
index), batches of BATCH_ROWS rows. Memory: one row
group's batch plus the side's state, which the plan keeps within state.STATE_BUDGET_BYTES.

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
from components._shared.io.sources import BATCH_ROWS, ParquetSource, family, open_source
from components.detect_drift import state, state_io
from components.detect_drift.sharding import STATE_FILE


def _groups(source: ParquetSource, groups: list[int], names: list[str]):
    (name, opener), handle = source.parts[0], source.part_files()[0][1]
    text = [f.name for f in handle.schema_arrow if family(f.type) == "text"] or None
    for group in groups:
        if not 0 <= group < handle.num_row_groups:
            raise DataError(
                f"{name} has {handle.num_row_groups} row groups, the shard names group {group}: "
                "the data changed after the plan; run the plan again"
            )
        try:
            reader = pq.ParquetFile(opener(), metadata=handle.metadata, read_dictionary=text)
            yield from reader.iter_batches(BATCH_ROWS, row_groups=[group], columns=names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot parse {name} as parquet: {exc}") from exc


def shard_batches(shard: dict, names: list[str]) -> Iterator[pa.RecordBatch]:
    """The shard's row groups, part by part, in batches of at most BATCH_ROWS rows."""
    by_part: dict[str, list[int]] = {}
    for part, group, _ in shard["groups"]:
        by_part.setdefault(part, []).append(int(group))
    for part, groups in by_part.items():
        uri = shard["uri"] if not part else shard["uri"].rstrip("/") + "/" + part
        source = open_source(uri, shard["side"])
        if not isinstance(source, ParquetSource):
            raise DataError(f"{uri} is not Parquet: a shard reads Parquet row groups")
        missing = [n for n in names if n not in source.schema.names]
        if missing:
            raise DataError(f"{uri} lacks columns {missing} the plan compares")
        yield from _groups(source, groups, names)


def count_shard(plan: state.Plan, shard: dict) -> state.ColumnStates:
    """The shard's side state under `plan`."""
    if shard.get("side") not in state.SIDES:
        raise ConfigError(f"shard {shard!r}: side must be one of {state.SIDES}")
    return state.partial(shard_batches(shard, list(plan.columns)), plan, shard["side"])


def save_shard(states: state.ColumnStates, shard: dict, out: str, s3_prefix: str = "") -> str:
    """Save to `out/state.npz` (+ sidecar); also under `s3_prefix` when given. The sha256."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    digest = state_io.save(states, path)
    if s3_prefix:
        name = f"{shard['side']}-{int(shard['index']):03d}.npz"
        upload_file(path, s3_prefix + name)  # the state first, its sidecar last
        upload_file(state_io.sidecar(path), s3_prefix + name + ".sha256")
    return digest
