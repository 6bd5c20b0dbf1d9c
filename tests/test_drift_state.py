"""The mergeable drift state: any partition into shards, merged in any order, equals one pass.

Random data (seeded numpy Generators) and the drift test columns of test_drift_streaming and
test_detect_drift; random cut points (empty and one-row shards included), random merge trees.
Counts, tallies and histograms must be identical, moments within 1e-12, verdicts the same as
the one-pod path's.
"""

from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components._shared.errors import ConfigError, DataError
from components.detect_drift import footers, state, state_io
from components.detect_drift.core import detect_drift
from components.detect_drift.finalize import Rules, finalize
from components.detect_drift.grid import GRID_BINS
from tests.test_detect_drift import frames
from tests.test_drift_streaming import table

ROWS = 12_000
INTS = ("rows", "dropped", "non_finite", "n", "overflow", "low", "high", "family", "integer")


def random_table(rows: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    spiky = rng.standard_cauchy(rows)
    spiky[rng.random(rows) < 0.02] = np.inf
    spiky[rng.random(rows) < 0.02] = -np.inf
    spiky[rng.random(rows) < 0.05] = np.nan
    words = np.array([f"w{i}" for i in range(40)] + ["é ü", ""])
    sparse = rng.integers(0, 50, rows).astype(float)
    sparse[rng.random(rows) < 0.99] = np.nan  # most shards see no value at all
    return pa.table(
        {
            "spiky": spiky + shift,
            "uniform": rng.uniform(-1e6, 1e6, rows) * (1 + shift),
            "near_cap": rng.integers(0, 990 + int(40 * shift), rows),  # around the tally cap
            "small": rng.integers(0, 5, rows),
            "sparse": sparse,
            "word": pa.array(rng.choice(words, rows), mask=rng.random(rows) < 0.1),
            "flag": rng.random(rows) < 0.4 + 0.2 * shift,
        }
    )


def cut(data: pa.Table, rng: np.random.Generator) -> list[pa.Table]:
    """Random shards: cut points anywhere (repeats make empty shards), one-row shards too."""
    k = int(rng.integers(1, 12))
    points = np.sort(rng.integers(0, data.num_rows + 1, k))
    one_row = int(rng.integers(0, data.num_rows))
    points = np.sort(np.r_[points, points[:1], one_row, one_row + 1])  # an empty, a one-row
    edges = [0, *points.tolist(), data.num_rows]
    return [data.slice(a, b - a) for a, b in pairwise(edges)]


def shard_states(data, plan, side, rng):
    out = []
    for shard in cut(data, rng):
        size = int(rng.integers(1, 5_000))
        out.append(state.partial(iter(shard.to_batches(max_chunksize=size)), plan, side))
    rng.shuffle(out)
    return out


def tree_merge(states, rng):
    """Merge in a random tree shape, each merge's operands in a random order."""
    if len(states) == 1:
        return states[0]
    split = int(rng.integers(1, len(states)))
    left, right = tree_merge(states[:split], rng), tree_merge(states[split:], rng)
    return state.merge(left, right) if rng.random() < 0.5 else state.merge(right, left)


def assert_same_state(one, merged):
    assert one.plan.fingerprint == merged.plan.fingerprint
    for name, a in one.sides.items():
        b = merged.sides[name]
        assert [getattr(a, k) for k in INTS] == [getattr(b, k) for k in INTS], name
        assert b.mean == pytest.approx(a.mean, rel=1e-12, abs=1e-300), name
        assert b.m2 == pytest.approx(a.m2, rel=1e-12, abs=1e-300), name
        assert (a.tally is None) == (b.tally is None), name
        if a.tally is not None:
            assert a.tally[0].tolist() == b.tally[0].tolist(), name
            assert a.tally[1].tolist() == b.tally[1].tolist(), name
        for hist in ("grid", "bins", "hellinger"):
            x, y = getattr(a, hist), getattr(b, hist)
            assert (x is None) == (y is None), (name, hist)
            if x is not None:
                assert np.array_equal(x, y), (name, hist)


def one_and_sharded(ref, cur, plan, rng):
    """Each side in one pass, and cut into shards and merged in a random tree."""
    pairs = []
    for data, side in ((ref, state.REFERENCE), (cur, state.CURRENT)):
        one = state.partial(iter(data.to_batches(max_chunksize=4_096)), plan, side)
        merged = tree_merge(shard_states(data, plan, side, rng), rng)
        assert_same_state(one, merged)
        pairs.append((one, merged))
    return pairs


def sharded_outcome(ref, cur, rules, rng=None, one_pass=False):
    """The sharded route: facts (and grids) counted per shard, merged, finalized."""
    rng = np.random.default_rng(0) if rng is None else rng
    plan = state.facts_plan(ref.schema, cur.schema, ref.schema.names)
    (_, r), (_, c) = one_and_sharded(ref, cur, plan, rng)
    outcome = finalize(r, c, rules)
    if outcome.grid_ranges:
        full = state.with_ranges(plan, outcome.grid_ranges)
        if one_pass:  # edges known before counting (from footers): facts and grids at once
            (_, r), (_, c) = one_and_sharded(ref, cur, full, rng)
        else:  # the two-pass route: grids only, attached to the first pass's facts
            (_, rg), (_, cg) = one_and_sharded(ref, cur, state.grid_only(full), rng)
            r, c = state.attach_grids(r, rg), state.attach_grids(c, cg)
        graded = finalize(r, c, rules)
        assert not graded.grid_ranges
        outcome.results.update(graded.results)
        outcome.needs_refinement = graded.needs_refinement
    return outcome


def sharded_verdicts(ref, cur, rules, rng, one_pass=False):
    """Each column's result through the sharded route."""
    return sharded_outcome(ref, cur, rules, rng, one_pass).results


def assert_same_verdicts(results, reference, current, rules):
    one_pod = detect_drift(
        reference,
        current,
        method=rules.method,
        thresholds=rules.thresholds,
        mode="streaming",
    )
    for c in one_pod.columns:
        s = results[c.column]
        assert (s.status, s.method, s.drifted) == (c.status, c.method, c.drifted), c.column
        if c.score is not None:
            assert s.score == pytest.approx(c.score, rel=1e-9, abs=1e-12), c.column


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_partitions_and_merge_orders_equal_one_pass(seed):
    rng = np.random.default_rng(seed)
    ref, cur = random_table(ROWS, 10 * seed), random_table(ROWS, 10 * seed + 1, shift=0.3)
    results = sharded_verdicts(ref, cur, Rules(), rng, one_pass=seed == 2)
    assert_same_verdicts(results, ref, cur, Rules())


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_binned_and_grid_tests_merge_exactly_on_fixed_edges(method):
    rng = np.random.default_rng(7)
    numbers = ["spiky", "uniform", "near_cap", "sparse"]
    ref, cur = random_table(ROWS, 70).select(numbers), random_table(ROWS, 71, 0.5).select(numbers)
    rules = Rules(method=method)
    assert_same_verdicts(sharded_verdicts(ref, cur, rules, rng, one_pass=True), ref, cur, rules)


def test_project_drift_columns_shard_to_the_same_verdicts():
    rng = np.random.default_rng(11)
    ref, cur = table(20_000, 0.0, 1), table(20_000, 0.5, 2)
    assert_same_verdicts(sharded_verdicts(ref, cur, Rules(), rng), ref, cur, Rules())
    ref_frame, cur_frame = frames(n_ref=3_000, n_cur=2_000, shift=0.4, seed=5)
    ref, cur = pa.Table.from_pandas(ref_frame), pa.Table.from_pandas(cur_frame)
    assert_same_verdicts(sharded_verdicts(ref, cur, Rules(), rng), ref, cur, Rules())


def test_a_plan_whose_edges_miss_the_data_is_planned_again_not_scored():
    ref, cur = random_table(ROWS, 80), random_table(ROWS, 81)
    plan = state.facts_plan(ref.schema, cur.schema, ["uniform"])
    narrow = state.with_ranges(plan, {"uniform": (-1.0, 1.0, 2 * ROWS, "wasserstein")})
    counted = [
        state.partial(iter(t.to_batches()), narrow, s)
        for t, s in ((ref, "reference"), (cur, "current"))
    ]
    outcome = finalize(*counted, Rules())
    assert outcome.results == {} and list(outcome.grid_ranges) == ["uniform"]


def test_states_of_other_plans_or_sides_are_not_merged():
    ref = random_table(500, 90)
    plan = state.facts_plan(ref.schema, ref.schema, ["spiky", "small"])
    other = state.facts_plan(ref.schema, ref.schema, ["spiky"])
    a = state.partial(iter(ref.to_batches()), plan, state.REFERENCE)
    with pytest.raises(ConfigError, match=r"different plans.*only in one: \['small'\]"):
        state.merge(a, state.partial(iter(ref.to_batches()), other, state.REFERENCE))
    edges = state.with_ranges(plan, {"spiky": (-5.0, 5.0, 500, "wasserstein")})
    with pytest.raises(ConfigError, match="other edges"):
        state.merge(a, state.empty(edges, state.REFERENCE))
    with pytest.raises(ConfigError, match="reference state with a current state"):
        state.merge(a, state.empty(plan, state.CURRENT))


def test_saved_state_loads_equal_and_a_flipped_byte_is_refused(tmp_path):
    ref = random_table(3_000, 100)
    plan = state.facts_plan(ref.schema, ref.schema, ref.schema.names)
    plan = state.with_ranges(plan, {"uniform": (-1e6, 1e6, 6_000, "psi")})
    saved = state.partial(iter(ref.to_batches(max_chunksize=700)), plan, state.REFERENCE)
    path = tmp_path / "shard-3.npz"
    digest = state_io.save(saved, path)
    assert state_io.sidecar(path).read_text().split() == [digest, "shard-3.npz"]
    assert_same_state(saved, state_io.load(path))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"shard-3\.npz is corrupt"):
        state_io.load(path)
    state_io.sidecar(path).unlink()
    with pytest.raises(DataError, match="no readable sha256 sidecar"):
        state_io.load(path)


def test_state_size_at_300_columns_fits_a_one_gib_shard():
    bins = state.grid_bins_for(300)
    assert bins == GRID_BINS  # 300 columns keep the full grid and its stated bound
    assert state.state_bytes(300, grid_bins=bins, sturges=64) <= state.STATE_BUDGET_BYTES
    assert state.STATE_BUDGET_BYTES < 1 << 30
    # Wider tables trade grid resolution for memory, never the budget.
    assert state.grid_bins_for(1_000) < GRID_BINS
    assert state.state_bytes(1_000, grid_bins=state.grid_bins_for(1_000), sturges=64) <= (
        state.STATE_BUDGET_BYTES
    )
    # The estimate bounds a real state of that shape (numbers at the tally cap, a full grid).
    data = pa.table({f"c{i}": np.arange(5_000.0) * (i + 1) for i in range(3)})
    plan = state.facts_plan(data.schema, data.schema, data.schema.names)
    ranges = {f"c{i}": (0.0, 4_999.0 * (i + 1), 10_000, "psi") for i in range(3)}
    counted = state.partial(iter(data.to_batches()), state.with_ranges(plan, ranges), "reference")
    held = sum(
        x.nbytes
        for s in counted.sides.values()
        for x in (s.grid, s.bins, *(s.tally or ()))
        if x is not None
    )
    sturges = max(len(s.bins) for s in counted.sides.values())
    assert held <= state.state_bytes(3, grid_bins=GRID_BINS, sturges=sturges)


def test_footers_fix_the_edges_so_one_pass_scores_finite_columns(tmp_path):
    rng = np.random.default_rng(13)
    numbers = ["spiky", "uniform", "near_cap", "word"]
    files = {}
    for label, seed, shift in (("reference", 130, 0.0), ("current", 131, 0.2)):
        data = random_table(ROWS, seed, shift).select(numbers)
        files[label] = tmp_path / f"{label}.parquet"
        pq.write_table(data, files[label], row_group_size=2_500)
    schema = pq.read_schema(files["reference"])
    plan = footers.plan_from_footers(
        state.facts_plan(schema, schema, numbers), [files["reference"]], [files["current"]], Rules()
    )
    gridded = sorted(n for n, c in plan.columns.items() if c.grid is not None)
    assert gridded == ["near_cap", "uniform"]  # spiky holds ±inf: its range needs a pass
    counted = {}
    for label in ("reference", "current"):
        handle = pq.ParquetFile(files[label])
        groups = list(range(handle.num_row_groups))
        rng.shuffle(groups)
        shards = [
            state.partial(handle.iter_batches(row_groups=[g], columns=numbers), plan, label)
            for g in groups
        ]
        counted[label] = tree_merge(shards, rng)
    outcome = finalize(counted["reference"], counted["current"], Rules())
    assert list(outcome.grid_ranges) == ["spiky"]
    one_pod = detect_drift(
        pq.read_table(files["reference"]), pq.read_table(files["current"]), mode="streaming"
    )
    for c in one_pod.columns:
        if c.column != "spiky":
            got = outcome.results[c.column]
            assert (got.method, got.drifted) == (c.method, c.drifted), c.column
            assert got.score == pytest.approx(c.score, rel=1e-9, abs=1e-12), c.column


def test_a_score_within_its_bound_is_listed_and_the_one_pod_path_refines_it_exactly():
    ref, cur = table(20_000, 0.0, 21), table(20_000, 0.1, 22)
    streamed = {c.column: c for c in detect_drift(ref, cur, mode="streaming").columns}
    heavy = streamed["heavy"]  # a Pareto tail: gridded, Wasserstein with a bound
    assert heavy.method == "wasserstein" and heavy.error_bound > 0
    rules = Rules(thresholds={"heavy": heavy.score})  # the threshold inside the bound
    assert "heavy" in sharded_outcome(ref, cur, rules).needs_refinement
    exact = {c.column: c for c in detect_drift(ref, cur, mode="exact").columns}["heavy"]
    one_pod = detect_drift(ref, cur, mode="streaming", thresholds={"heavy": heavy.score})
    refined = {c.column: c for c in one_pod.columns}["heavy"]
    assert (refined.error_bound, refined.reason) == (0.0, None)
    assert refined.score == pytest.approx(exact.score, rel=1e-9)
    assert refined.drifted == (exact.score >= heavy.score)
