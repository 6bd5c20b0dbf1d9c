"""Sharded drift's plan, map and reduce cores, without KFP: shards, states, the same verdicts.

The pipeline through kfp.local is tests/test_drift_sharded_pipeline.py.
"""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components._shared.errors import ConfigError, DataError
from components._shared.io.sources import open_source
from components.detect_drift.core import detect_drift
from components.detect_drift.sharding import plan_of, schema_of
from components.drift_shard.core import count_shard, save_shard
from components.merge_drift_states.core import reduce_from
from components.plan_drift_shards.core import (
    MAX_SHARDS,
    RowGroup,
    balance,
    plan_shards,
    write_plan,
)


def test_balance_keeps_row_groups_whole_and_balances_bytes():
    sizes = [90, 10, 40, 40, 30, 30, 20, 20, 10, 10]
    groups = [RowGroup("", i, b) for i, b in enumerate(sizes)]
    shards = balance(groups, 3)
    key = lambda g: g.index  # noqa: E731
    assert sorted((g for s in shards for g in s), key=key) == groups  # each group once
    loads = sorted(sum(g.bytes for g in s) for s in shards)
    assert loads == [100, 100, 100]
    assert all([g.index for g in s] == sorted(g.index for g in s) for s in shards)
    assert balance(groups, 3) == shards  # deterministic


def test_more_shards_than_row_groups_gives_one_per_group():
    groups = [RowGroup("a.parquet", i, 5) for i in range(3)]
    assert balance(groups, 8) == [[g] for g in groups]


def _frame(rng, rows, shift=0.0):
    return pa.table(
        {
            "x": rng.normal(shift, 1.0, rows),  # many values: the grid, its bound
            "y": rng.normal(0.0, 1.0, rows),
            "k": rng.integers(0, 6, rows),  # few values: tallies, exact
            "c": rng.choice(["a", "b", "c"], rows),
        }
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A reference file and a current folder of two parts, row groups of 3,000 rows."""
    root = tmp_path_factory.mktemp("sharded")
    rng = np.random.default_rng(7)
    pq.write_table(_frame(rng, 24_000), root / "reference.parquet", row_group_size=3_000)
    (root / "current").mkdir()
    for i in range(2):
        pq.write_table(_frame(rng, 9_000, 0.4), root / f"current/{i}.parquet", row_group_size=3_000)
    return root / "reference.parquet", root / "current"


def _run(tmp, reference, current, shards):
    planned = plan_shards(str(reference), str(current), shards)
    write_plan(planned, str(tmp / "plan.json"))
    document, plan = plan_of(str(tmp / "plan.json"))
    folders = []
    for item in json.loads(json.dumps(planned.shards)):  # as the ParallelFor passes them
        folder = tmp / f"{item['side']}-{item['index']}"
        save_shard(count_shard(plan, item, schema_of(document, item["side"])), item, str(folder))
        folders.append(str(folder))
    return planned, document, plan, folders


def test_sharded_run_gives_the_one_pod_verdicts_and_scores(pair, tmp_path):
    reference, current = pair
    planned, document, plan, folders = _run(tmp_path, reference, current, 4)
    per_side = document["shards"]
    assert per_side == {"reference": 4, "current": 4}
    assert planned.notes == []  # footers range every number: no second pass planned
    sharded = reduce_from(document, plan, folders, "", 0.5)
    one_pod = detect_drift(open_source(str(reference)), open_source(str(current)), mode="streaming")
    assert sharded.drifted == one_pod.drifted
    assert sharded.reference_rows == 24_000 and sharded.current_rows == 18_000
    for a, b in zip(sharded.columns, one_pod.columns, strict=True):
        assert (a.column, a.method, a.drifted) == (b.column, b.method, b.drifted)
        assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12)
    assert {c.column for c in sharded.columns if c.drifted} == {"x"}


def test_a_corrupt_missing_or_stale_state_fails_the_reduce(pair, tmp_path):
    reference, current = pair
    _, document, plan, folders = _run(tmp_path, reference, current, 2)
    with pytest.raises(DataError, match="a shard is missing"):
        reduce_from(document, plan, folders[:-1], "", 0.5)
    with pytest.raises(DataError, match="counted twice"):
        reduce_from(document, plan, [*folders, folders[0]], "", 0.5)
    state_file = tmp_path / "reference-0" / "state.npz"
    data = bytearray(state_file.read_bytes())
    data[-10] ^= 0xFF
    state_file.write_bytes(bytes(data))
    with pytest.raises(DataError, match="is corrupt"):
        reduce_from(document, plan, folders, "", 0.5)
    other = tmp_path / "other"
    other.mkdir()
    _, _, _, stale = _run(other, reference, reference, 2)  # another plan's states
    with pytest.raises(DataError, match="stale shard"):
        reduce_from(document, plan, stale, "", 0.5)


def test_plan_refuses_bad_shards_fan_in_and_columns(pair):
    reference, current = pair
    for shards in (1, MAX_SHARDS + 1):
        with pytest.raises(ConfigError, match=r"2\.\.64"):
            plan_shards(str(reference), str(current), shards)
    with pytest.raises(ConfigError, match="fan_in"):
        plan_shards(str(reference), str(current), 4, fan_in="ftp")
    with pytest.raises(DataError, match="'nope' is missing"):
        plan_shards(str(reference), str(current), 4, columns=["nope"])


def test_a_row_group_gone_since_the_plan_is_refused(pair, tmp_path):
    reference, current = pair
    planned = plan_shards(str(reference), str(current), 2)
    item = dict(planned.shards[0], groups=[["", 99, 1]])
    with pytest.raises(DataError, match="data changed after the plan"):
        count_shard(planned.plan, item, planned.schemas[item["side"]])


def test_more_shards_than_row_groups_is_said_in_the_plan(pair):
    reference, current = pair  # 8 and 6 row groups
    planned = plan_shards(str(reference), str(current), 10)
    assert planned.document()["shards"] == {"reference": 8, "current": 6}
    assert planned.notes == [
        "reference: 8 row groups, so 8 shards instead of 10 (a row group is never split)",
        "current: 6 row groups, so 6 shards instead of 10 (a row group is never split)",
    ]
    assert {
        tuple(g[:2]) for s in planned.shards if s["side"] == "current" for g in s["groups"]
    } == {(f"{i}.parquet", g) for i in range(2) for g in range(3)}


def _typed_parts(root, first: pa.DataType, second: pa.DataType, fraction: bool = False):
    """A reference file, and a current folder whose two parts store `x` as other types."""
    rng = np.random.default_rng(5)
    pq.write_table(_frame(rng, 12_000), root / "reference.parquet", row_group_size=3_000)
    (root / "current").mkdir()
    for i, kind in enumerate((first, second)):
        frame = _frame(rng, 6_000, 0.4)
        x = np.round(frame.column("x").to_numpy() * 100)  # whole numbers: fit either type
        x = x + 0.5 if fraction and i == 1 else x
        frame = frame.set_column(0, "x", pa.array(x).cast(kind, safe=False))
        pq.write_table(frame, root / f"current/{i}.parquet", row_group_size=3_000)
    return root / "reference.parquet", root / "current"


@pytest.mark.parametrize(
    ("first", "second"), [(pa.float64(), pa.int64()), (pa.int64(), pa.float64())]
)
def test_parts_of_one_side_with_int_and_float_count_as_one_pod_reads_them(tmp_path, first, second):
    # One pod casts every batch of a side to its first part's types; each shard must too,
    # or a shard of the second part counts `x` under another type than its siblings.
    reference, current = _typed_parts(tmp_path, first, second)
    _, document, plan, folders = _run(tmp_path, reference, current, 4)
    assert schema_of(document, "current").field("x").type == first
    sharded = reduce_from(document, plan, folders, "", 0.5)
    one_pod = detect_drift(open_source(str(reference)), open_source(str(current)), mode="streaming")
    for a, b in zip(sharded.columns, one_pod.columns, strict=True):
        assert (a.column, a.method, a.drifted, a.column_type) == (
            b.column,
            b.method,
            b.drifted,
            b.column_type,
        )
        assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12), a.column


def test_a_part_whose_values_do_not_fit_the_first_parts_type_fails_as_in_one_pod(tmp_path):
    reference, current = _typed_parts(tmp_path, pa.int64(), pa.float64(), fraction=True)
    with pytest.raises(DataError, match=r"1\.parquet does not match the schema of the first part"):
        detect_drift(open_source(str(reference)), open_source(str(current)), mode="streaming")
    with pytest.raises(DataError, match=r"1\.parquet does not match the schema of the first part"):
        _run(tmp_path, reference, current, 4)


def test_parts_whose_types_cannot_be_read_as_one_fail_the_plan_naming_them(tmp_path):
    rng = np.random.default_rng(3)
    pq.write_table(_frame(rng, 3_000), tmp_path / "reference.parquet")
    (tmp_path / "current").mkdir()
    for i in range(2):
        frame = _frame(rng, 3_000)
        if i == 0:  # text in the first part, numbers in the second
            frame = frame.set_column(2, "k", frame.column("k").cast(pa.string()))
        pq.write_table(frame, tmp_path / f"current/{i}.parquet")
    reference, current = tmp_path / "reference.parquet", tmp_path / "current"
    with pytest.raises(DataError, match="does not match the schema of the first part"):
        detect_drift(open_source(str(reference)), open_source(str(current)), mode="streaming")
    with pytest.raises(
        DataError, match=r"part .*1\.parquet stores 'k' as int64, the first part .*0\.parquet"
    ):
        plan_shards(str(reference), str(current), 2)
