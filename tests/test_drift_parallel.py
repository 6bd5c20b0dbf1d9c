"""Both sides counted at once and columns scored on threads: same results, errors as raised.

The one-pod drift path counts the reference and the current data in two threads and scores
columns on as many as the process may use (its affinity and its cgroup's CPU quota).
"""

import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components._shared.cpus import quota_cpus, usable_cpus
from components._shared.io.sources import open_source
from components.detect_drift import finalize as finalize_module
from components.detect_drift import parallel
from components.detect_drift.core import detect_drift
from components.detect_drift.parallel import Stopped, both_sides, stoppable


@pytest.mark.parametrize(
    ("line", "cpus"),
    [
        ("max 100000", None),
        ("200000 100000", 2),
        ("150000 100000", 2),  # 1.5 CPUs: two threads can run
        ("50000 100000", 1),
        ("", None),
        ("garbage", None),
        ("x 100000", None),
        ("0 100000", None),
    ],
)
def test_a_cgroup_quota_reads_as_cpus(line, cpus):
    assert quota_cpus(line) == cpus


def test_usable_cpus_are_capped_by_the_quota_file(tmp_path):
    limited = tmp_path / "cpu.max"
    limited.write_text("100000 100000\n")
    assert usable_cpus(limited) == 1
    limited.write_text("max 100000\n")
    assert usable_cpus(limited) >= 1
    assert usable_cpus(tmp_path / "missing") >= 1  # cgroup v1: affinity only


def _batches(n, seen: list, delay=0.0):
    for i in range(n):
        seen.append(i)
        time.sleep(delay)
        yield i


@pytest.mark.parametrize("cpus", [1, 2])
def test_both_sides_give_each_sides_result(cpus):
    threads = set()

    def count(label):
        def run(stop):
            threads.add(threading.current_thread().name)
            return label, sum(stoppable(range(100), stop))

        return run

    assert both_sides(count("ref"), count("cur"), cpus=cpus) == (("ref", 4950), ("cur", 4950))
    assert len(threads) == cpus


def test_a_failing_current_side_stops_the_reference_and_its_error_is_raised():
    seen = []

    def reference(stop):
        return sum(stoppable(_batches(10_000, seen, 0.001), stop))

    def current(stop):
        raise ValueError("current: cannot parse part-3.parquet")

    with pytest.raises(ValueError, match="part-3"):
        both_sides(reference, current, cpus=2)
    assert len(seen) < 10_000  # stopped early, not read to the end


def test_a_failing_reference_side_stops_the_current_and_its_error_is_raised():
    seen = []

    def reference(stop):
        time.sleep(0.05)
        raise KeyError("reference: column x missing")

    def current(stop):
        return sum(stoppable(_batches(10_000, seen, 0.001), stop))

    with pytest.raises(KeyError, match="column x"):
        both_sides(reference, current, cpus=2)
    assert len(seen) < 10_000


def test_stoppable_ends_at_the_first_batch_after_stop():
    stop = threading.Event()
    out = []
    with pytest.raises(Stopped):
        for batch in stoppable(range(10), stop):
            out.append(batch)
            if batch == 2:
                stop.set()
    assert out == [0, 1, 2]


def test_columns_scored_on_threads_come_back_in_order_and_errors_are_raised(monkeypatch):
    monkeypatch.setattr(finalize_module, "usable_cpus", lambda: 2)
    names = [f"c{i}" for i in range(30)]

    def score(name, offset):
        time.sleep(0.001 * (30 - int(name[1:])) / 10)  # later columns finish first
        return name, offset

    assert finalize_module.each_column(score, names, 5) == [(n, 5) for n in names]

    def failing(name, offset):
        if name == "c7":
            raise RuntimeError("c7 could not be scored")
        return name

    with pytest.raises(RuntimeError, match="c7"):
        finalize_module.each_column(failing, names, 0)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    rng = np.random.default_rng(3)
    for side, shift in (("ref", 0.0), ("cur", 0.3)):
        n = 60_000
        pq.write_table(
            pa.table(
                {
                    "x": pa.array(rng.normal(shift, 1, n), mask=rng.random(n) < 0.05),
                    "few": rng.choice([0.5, 1.5, 2.5], n),
                    "age": rng.integers(18, 90, n),
                    "small": rng.integers(0, 4, n),
                    "city": pa.array(rng.choice(["a", "b", "c", None], n)),
                }
            ),
            folder / f"{side}.parquet",
            row_group_size=20_000,
        )
    return str(folder / "ref.parquet"), str(folder / "cur.parquet")


@pytest.mark.parametrize("mode", ["exact", "streaming"])
def test_one_cpu_and_two_give_the_same_result(pair, mode, monkeypatch):
    results = {}
    for cpus in (1, 2):
        monkeypatch.setattr(parallel, "usable_cpus", lambda cpus=cpus: cpus)
        monkeypatch.setattr(finalize_module, "usable_cpus", lambda cpus=cpus: cpus)
        results[cpus] = detect_drift(open_source(pair[0]), open_source(pair[1]), mode=mode)
    assert results[1] == results[2]
    assert "x" in {c.column for c in results[2].columns if c.drifted}
