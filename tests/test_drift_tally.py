"""Counting numbers without hashing: the tallies equal Arrow's value counts, whatever path.

`number_tally` takes a bincount for integers over a short span, compares with the keys it
already knows, and hashes only the rest; a batch whose first values already pass the cap
skips its count. Each path must give what hashing every value gives.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from components.detect_drift import sides
from components.detect_drift.sides import (
    BINCOUNT_SPAN,
    FEW_KEYS,
    MAX_TRACKED_NUMBERS,
    Side,
    merge_tally,
    more_distinct_than,
    number_tally,
)
from components.detect_drift.state import grid_plan

rng = np.random.default_rng(7)


def hashed(values: np.ndarray):
    """Arrow's value counts, sorted by value: what every path must equal."""
    counted = pc.value_counts(pa.array(values))
    keys = counted.field("values").to_numpy()
    counts = counted.field("counts").to_numpy().astype(np.int64)
    order = np.argsort(keys)
    return keys[order], counts[order]


def assert_tally(got, want):
    assert got[0].dtype == want[0].dtype and got[1].dtype == np.int64
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


INTEGERS = {
    "short span": rng.integers(-5, 60, 10_000),
    "one value": np.full(1_000, 42, np.int64),
    "binary": (rng.random(5_000) < 0.1).astype(np.int64),
    "just inside the span": np.array([0, BINCOUNT_SPAN - 1, 3, 3], np.int64),
    "past the span (hashed)": np.array([0, BINCOUNT_SPAN, 7, 7, -1], np.int64),
    "extremes of int64 (hashed)": np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max]),
}


@pytest.mark.parametrize("name", INTEGERS)
def test_integers_count_as_hashing_counts(name):
    values = INTEGERS[name].astype(np.int64)
    assert_tally(number_tally(values), hashed(values))
    assert_tally(number_tally(values, None, values.min(), values.max()), hashed(values))


FEW = np.array([0.5, 1.5, 2.5, 3.5])


@pytest.mark.parametrize(
    "known_keys",
    [FEW, np.linspace(-1, 1, FEW_KEYS + 30)],  # compared key by key; searched
    ids=["few keys", "many keys"],
)
def test_floats_among_known_keys_count_as_hashing_counts(known_keys):
    known = (known_keys, np.ones(len(known_keys), np.int64))
    inside = rng.choice(known_keys[:-1], 20_000)  # one known key never occurs
    assert_tally(number_tally(inside, known), hashed(inside))
    outside = np.concatenate([inside, [known_keys[-1] + 0.25]])  # one new value: hashed
    assert_tally(number_tally(outside, known), hashed(outside))


def test_a_known_key_tally_merges_as_two_hashed_tallies_do():
    first, second = rng.choice(FEW, 3_000), rng.choice(FEW[:2], 4_000)
    merged = merge_tally(number_tally(first), number_tally(second, number_tally(first)))
    assert_tally(merged, hashed(np.concatenate([first, second])))


def test_the_probe_says_more_than_the_cap_only_when_true():
    spread = rng.normal(size=50_000)
    assert more_distinct_than(spread, MAX_TRACKED_NUMBERS)
    few = rng.integers(0, MAX_TRACKED_NUMBERS, 50_000).astype(float)  # exactly at the cap
    assert not more_distinct_than(few, MAX_TRACKED_NUMBERS)
    assert not more_distinct_than(spread[:MAX_TRACKED_NUMBERS], MAX_TRACKED_NUMBERS)


def _counted(batches, plan, probe_factor, monkeypatch) -> Side:
    monkeypatch.setattr(sides, "PROBE_FACTOR", probe_factor)
    side = Side("numeric", False)
    for batch in batches:
        side.add_pass1(pa.array(batch), plan, 1 << 12)
    return side


@pytest.mark.parametrize("test_name", ["wasserstein", "psi", "hellinger"])
def test_a_batch_past_the_cap_at_its_probe_fills_the_histograms_as_counting_it_would(
    test_name, monkeypatch
):
    # A few distinct values first (kept in the tally), then a batch with thousands.
    batches = [rng.choice(FEW, 2_000), rng.normal(size=30_000), rng.normal(size=10_000)]
    plan = grid_plan(-6.0, 6.0, 42_000, test_name)
    probed = _counted(batches, plan, sides.PROBE_FACTOR, monkeypatch)
    counted = _counted(batches, plan, 0, monkeypatch)  # no probe: the whole batch tallied
    assert probed.overflow and counted.overflow and probed.tally is None
    for field in ("grid", "bins", "hellinger"):
        a, b = getattr(probed, field), getattr(counted, field)
        assert (a is None) == (b is None), field
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert probed.grid.sum() == sum(len(b) for b in batches)
    assert (probed.n, probed.mean, probed.m2) == (counted.n, counted.mean, counted.m2)
