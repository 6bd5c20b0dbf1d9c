"""Plan a sharded drift run from Parquet footers only: the shards of both sides, and the plan.

A shard is a list of whole row groups of one side (never a split row group), balanced by
their compressed bytes in the compared columns (largest first, each to the lightest shard so
far). K larger than a side's row groups gives that side one shard per row group, and says
so. The drift `state.Plan` (columns, types, grid edges from the footers' min/max) is the one
every map task counts under; columns the footers cannot range (text, missing statistics,
±inf) are named: if they have too many distinct values to tally, the reduce counts their
grid in a second pass (see components/merge_drift_states/core.py).
"""

import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from components._shared.errors import ConfigError, DataError
from components._shared.io.sources import ParquetSource, open_source
from components.detect_drift import footers, state
from components.detect_drift.core import _check_config, with_model
from components.detect_drift.finalize import Rules
from components.detect_drift.prediction import PREDICTION
from components.detect_drift.sharding import readable_uri, schema_text

MAX_SHARDS = 64  # per side; more iterations strain KFP's DAG updates (kubeflow/pipelines#12131)
FAN_INS = ("collected", "s3")


@dataclass(frozen=True)
class RowGroup:
    """One row group of one Parquet part: the part's name under its dataset, and its bytes."""

    part: str  # "" when the dataset is one file; else the path under the folder or prefix
    index: int
    bytes: int


@dataclass
class ShardPlan:
    """What the plan task emits: the shards (ParallelFor items), the plan, what it said."""

    shards: list[dict]
    plan: state.Plan
    rules: Rules
    sources: dict[str, str]
    columns: list[str]
    notes: list[str] = field(default_factory=list)
    model: dict | None = None  # sharding.pin: the version every map task scores with
    schemas: dict[str, pa.Schema] = field(default_factory=dict)  # per side: batches cast to it

    def document(self) -> dict:
        """The plan artifact's JSON: the plan itself (canonical JSON) and its fingerprint."""
        per_side = {s: sum(x["side"] == s for x in self.shards) for s in state.SIDES}
        return {
            "plan": self.plan.to_json(),
            "fingerprint": self.plan.fingerprint,
            "columns": self.columns,  # the compared order (the plan's JSON sorts them)
            "rules": {
                "method": self.rules.method,
                "thresholds": self.rules.thresholds,
                "per_column_methods": self.rules.per_column_methods,
            },
            "sources": self.sources,
            "shards": per_side,
            "notes": self.notes,
            "model": self.model,
            "schemas": {side: schema_text(s) for side, s in self.schemas.items()},
        }


def _relative(uri: str, name: str) -> str:
    if name == uri:
        return ""
    if uri.startswith("s3://"):
        return name.removeprefix(uri.rstrip("/") + "/")
    return str(Path(name).relative_to(Path(uri.removeprefix("file://"))))


def row_groups(uri: str, source: ParquetSource, columns: list[str]) -> list[RowGroup]:
    """Every row group of every part, with its compressed bytes in `columns`."""
    groups = []
    for name, handle in source.part_files():
        meta = handle.metadata
        index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        wanted = [index[c] for c in columns if c in index]
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            size = sum(group.column(i).total_compressed_size for i in wanted)
            groups.append(RowGroup(_relative(uri, name), g, int(size)))
    return groups


def balance(groups: list[RowGroup], k: int) -> list[list[RowGroup]]:
    """At most `k` shards of whole row groups, balanced by bytes (largest first, to the lightest).

    Deterministic: ties go to the lowest shard; each shard lists its groups in file order.
    No shard is empty: fewer row groups than `k` give one shard per row group.
    """
    k = min(k, len(groups))
    heap = [(0, i) for i in range(k)]
    shards: list[list[RowGroup]] = [[] for _ in range(k)]
    order = sorted(range(len(groups)), key=lambda i: (-groups[i].bytes, i))
    for i in order:
        load, shard = heapq.heappop(heap)
        shards[shard].append(groups[i])
        heapq.heappush(heap, (load + groups[i].bytes, shard))
    position = {g: i for i, g in enumerate(groups)}
    return [sorted(s, key=position.__getitem__) for s in shards]


def check_part_types(uri: str, source: ParquetSource, columns: list[str]) -> None:
    """Every part's types in `columns` can be cast to the first part's, as one pod casts them.

    One pod reads every batch of a side as its first part's schema (ParquetSource); each map
    task does too, so a column is counted under one type whatever the shard. A type Arrow
    cannot cast at all fails here, before any row is read. Values that do not fit (1.5 into
    an integer column) fail when read, naming the part, in one pod and in the map task alike.
    """
    (first, _), *others = source.part_files()
    for name, other in others:
        theirs = other.schema_arrow
        for column in columns:
            if column not in theirs.names or column not in source.schema.names:
                continue  # a missing column is refused where it is read, naming the part
            have, want = theirs.field(column).type, source.schema.field(column).type
            if have == want:
                continue
            try:
                pa.array([], have).cast(want)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                raise DataError(
                    f"cannot read {uri}: part {name} stores {column!r} as {have}, the first "
                    f"part {first} as {want}, and one cannot be read as the other; read the "
                    "parts of one schema (a narrower date window or folder), or move the odd "
                    "parts elsewhere"
                ) from None


def _check(shards: int, fan_in: str) -> None:
    if not 2 <= shards <= MAX_SHARDS:
        raise ConfigError(
            f"shards={shards}: a sharded run takes 2..{MAX_SHARDS} shards per side; "
            "shards=1 runs the one-pod detect_drift step"
        )
    if fan_in not in FAN_INS:
        raise ConfigError(f"fan_in={fan_in!r}: expected one of {list(FAN_INS)}")


def plan_shards(
    reference_uri: str,
    current_uri: str,
    shards: int,
    columns: list[str] | None = None,
    rules: Rules | None = None,
    fan_in: str = "collected",
    model=None,
    pinned: dict | None = None,
) -> ShardPlan:
    """Both sides' shards and the drift plan, from the footers of both datasets.

    With a `model` (the version `pinned` records, `sharding.pin`), columns are chosen as the
    one pod chooses them (`core.with_model`: empty means the model's inputs) and the plan
    has one more column, `prediction`, which the map tasks compute. The footers give it no
    range, so its grid (if it has more than 1000 distinct values) is counted by the reduce
    on the edges the merged first pass gives, as the one pod does after its first pass.
    The model scores the first row of each side here, for the output's type.

    Raises:
        ConfigError: shards outside 2..MAX_SHARDS, an unknown fan_in, method or threshold;
            a model without its pin.
        DataError: A dataset that is not Parquet, has no rows, or lacks a compared column
            or one of the model's inputs.
    """
    if model is not None and not pinned:
        raise ConfigError("a model for a sharded run needs its pin (sharding.pin): none given")
    _check(shards, fan_in)
    rules = rules or Rules()
    uris = {state.REFERENCE: readable_uri(reference_uri), state.CURRENT: readable_uri(current_uri)}
    sources = {side: open_source(uri, side) for side, uri in uris.items()}
    for side, source in sources.items():
        if not isinstance(source, ParquetSource):
            raise ConfigError(
                f"the {side} data {uris[side]} is not Parquet: a sharded run reads Parquet row "
                "groups; snapshot it with load_data first, or run with shards=1"
            )
    for side, source in sources.items():
        if source.num_rows == 0:
            raise DataError(f"the {side} dataset has no rows ({uris[side]}): nothing to compare")
    ref, cur, names = with_model(sources[state.REFERENCE], sources[state.CURRENT], columns, model)
    _check_config(names, rules.method, rules.thresholds, rules.per_column_methods, 0.5)
    first = state.facts_plan(ref.schema, cur.schema, names)
    files = {side: [h for _, h in s.part_files()] for side, s in sources.items()}
    plan = footers.plan_from_footers(first, files[state.REFERENCE], files[state.CURRENT], rules)
    out = ShardPlan([], plan, rules, uris, names, model=pinned if model is not None else None)
    out.schemas = {side: source.schema for side, source in sources.items()}
    # What a map task reads: the compared columns and, with a model, its inputs.
    read = [n for n in names if n != PREDICTION] + list(getattr(ref, "features", []))
    read = list(dict.fromkeys(read))
    for side, source in sources.items():
        check_part_types(uris[side], source, read)
        groups = row_groups(uris[side], source, read)
        split = balance(groups, shards)
        if len(split) < shards:
            out.notes.append(
                f"{side}: {len(groups)} row groups, so {len(split)} shards instead of {shards} "
                "(a row group is never split)"
            )
        for i, members in enumerate(split):
            out.shards.append(
                {
                    "side": side,
                    "index": i,
                    "of": len(split),
                    "uri": uris[side],
                    "groups": [[g.part, g.index, g.bytes] for g in members],
                    "bytes": sum(g.bytes for g in members),
                }
            )
    numeric = [n for n, c in plan.columns.items() if all(k[0] == "numeric" for k in c.kinds)]
    unranged = [n for n in numeric if plan.columns[n].grid is None]
    if unranged:
        out.notes.append(
            f"no usable footer range for numerical columns {unranged}: if one has more than "
            "1000 distinct values, the reduce counts its grid in a second pass"
        )
    return out


def write_plan(shard_plan: ShardPlan, path: str) -> None:
    """The plan artifact (JSON)."""
    Path(path).write_text(json.dumps(shard_plan.document(), indent=1, sort_keys=True))
