"""Streaming mode against exact mode: same tests, exact where promised, within stated bounds."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components._shared.errors import ConfigError
from components._shared.io import sources
from components._shared.io.sources import open_source
from components.detect_drift import scan, state
from components.detect_drift.core import detect_drift
from components.detect_drift.grid import GRID_BINS
from components.detect_drift.pairs import MIN_STD
from components.detect_drift.results import TESTED
from components.detect_drift.sides import MAX_TRACKED_NUMBERS
from kfp_mlops.cli import drift as cli_drift

ROWS = 60_000


@pytest.fixture
def small_batches(monkeypatch):
    # Many batches per dataset even at test sizes, so merging across batches is exercised.
    monkeypatch.setattr(sources, "BATCH_ROWS", 7_001)


def table(rows: int, shift: float, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    heavy = rng.pareto(2.5, rows) * 10  # a long right tail: wide range for its std
    plain = rng.normal(shift, 1.0, rows)
    plain[rng.random(rows) < 0.03] = np.nan
    return pa.table(
        {
            "plain": plain,
            "heavy": heavy + shift,
            "wide_int": rng.integers(0, 5_000, rows) + int(400 * shift),
            # More than 20 distinct values but fewer than streaming counts: counted, then binned.
            "mid_int": rng.integers(0, 300, rows) + int(30 * shift),
            "few": rng.choice([0.5, 1.5, 2.5], rows, p=[0.5, 0.3 + 0.1 * shift, 0.2 - 0.1 * shift]),
            "small_int": rng.integers(0, 6 + int(2 * shift), rows),
            "city": pa.array(rng.choice(["a", "b", "c", "d"], rows)).dictionary_encode(),
            "flag": rng.random(rows) < 0.3 + 0.2 * shift,
        }
    )


def write_parts(folder, data: pa.Table, parts: int = 3):
    folder.mkdir(parents=True, exist_ok=True)
    step = math.ceil(data.num_rows / parts)
    for i in range(parts):
        pq.write_table(data.slice(i * step, step), folder / f"part-{i}.parquet")
    return folder


def both_modes(reference, current, **options):
    exact = detect_drift(reference, current, mode="exact", **options)
    streamed = detect_drift(reference, current, mode="streaming", **options)
    assert (exact.mode, streamed.mode) == ("exact", "streaming")
    return {c.column: c for c in exact.columns}, {c.column: c for c in streamed.columns}


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_streaming_auto_matches_exact_within_the_stated_bounds(small_batches, shift):
    exact, streamed = both_modes(table(ROWS, 0.0, 1), table(ROWS, shift, 2))
    assert set(exact) == set(streamed)
    for name, e in exact.items():
        s = streamed[name]
        assert (name, s.status, s.method, s.drifted) == (name, e.status, e.method, e.drifted)
        assert s.reference_null_share == pytest.approx(e.reference_null_share)
        assert s.current_null_share == pytest.approx(e.current_null_share)
        if name in ("plain", "heavy", "wide_int"):  # more distinct values than counted: a grid
            assert s.method == "wasserstein" and s.error_bound > 0
            assert abs(s.score - e.score) <= s.error_bound, name
        else:  # counted exactly while streaming
            assert s.error_bound == 0 and s.score == pytest.approx(e.score, rel=1e-12), name
    # The case is not vacuous: the shifted run flags the shifted numerical columns.
    if shift:
        assert streamed["plain"].drifted and streamed["wide_int"].drifted


def test_streaming_wasserstein_bound_is_two_grid_bins_over_the_reference_std(small_batches):
    ref, cur = table(ROWS, 0.0, 3), table(ROWS, 0.3, 4)
    _, streamed = both_modes(ref, cur, columns=["heavy"])
    values = np.concatenate([ref["heavy"].to_numpy(), cur["heavy"].to_numpy()])
    width = (values.max() - values.min()) / GRID_BINS
    std = max(float(np.std(ref["heavy"].to_numpy())), MIN_STD)
    assert streamed["heavy"].error_bound == pytest.approx(2 * width / std, rel=1e-9)
    # A heavy tail widens the range, yet the bound stays far below the 0.1 threshold.
    assert streamed["heavy"].error_bound < 0.01


def test_streaming_ks_p_value_lies_within_its_bound(small_batches):
    ref, cur = table(ROWS, 0.0, 5), table(ROWS, 0.02, 6)
    exact, streamed = both_modes(ref, cur, columns=["plain", "heavy"], method="ks")
    for name in ("plain", "heavy"):
        e, s = exact[name], streamed[name]
        assert s.method == "ks" and s.error_bound >= 0
        # The grid p-value is that of the smallest D the grid allows: never below the exact one.
        assert s.score - s.error_bound - 1e-12 <= e.score <= s.score + 1e-12, name


@pytest.mark.parametrize("method", ["jensenshannon", "psi", "kl_div"])
def test_streaming_binned_tests_use_exact_sturges_bins(small_batches, method):
    exact, streamed = both_modes(table(ROWS, 0.0, 7), table(ROWS, 0.2, 8), method=method)
    for name in ("plain", "heavy", "wide_int", "mid_int", "few", "small_int", "city", "flag"):
        e, s = exact[name], streamed[name]
        assert s.error_bound == 0 and s.score == pytest.approx(e.score, rel=1e-9), name


def test_streaming_hellinger_on_many_valued_numbers_says_its_bound_is_unknown(small_batches):
    _, streamed = both_modes(table(ROWS, 0.0, 9), table(ROWS, 0.0, 10), method="hellinger")
    assert streamed["plain"].error_bound is None and streamed["city"].error_bound == 0


def test_streaming_keeps_no_rows_in_memory(small_batches):
    ref = table(ROWS, 0.0, 11)
    plan = state.facts_plan(ref.schema, ref.schema, ref.schema.names)
    batches = iter(ref.to_batches(max_chunksize=sources.BATCH_ROWS))
    sides = state.partial(batches, plan, state.REFERENCE).sides
    for name, side in sides.items():
        assert side.values is None and side.chunks == [], name
        kept = 0 if side.tally is None else len(side.tally[0])
        assert kept <= MAX_TRACKED_NUMBERS, name  # past the cap the tally is dropped
    # Moments merged across batches equal the whole-column ones.
    plain = ref["plain"].to_numpy()
    plain = plain[np.isfinite(plain)]
    assert sides["plain"].mean == pytest.approx(plain.mean(), rel=1e-12)
    assert sides["plain"].m2 / sides["plain"].n == pytest.approx(plain.var(), rel=1e-10)


def test_streaming_reads_parts_whose_types_differ(small_batches, tmp_path):
    ref = write_parts(tmp_path / "ref", table(ROWS, 0.0, 13))
    cur_data = table(ROWS, 0.0, 14)
    write_parts(tmp_path / "cur", cur_data.slice(0, ROWS // 2), parts=1)
    # A later part stores the integer column as float: cast to the first part's type.
    late = cur_data.slice(ROWS // 2).set_column(
        2, "wide_int", cur_data.slice(ROWS // 2)["wide_int"].cast(pa.float64())
    )
    pq.write_table(late, tmp_path / "cur" / "part-9.parquet")
    result = detect_drift(
        open_source(str(ref), "reference"), open_source(str(tmp_path / "cur"), "current"),
        mode="streaming",
    )  # fmt: skip
    assert result.mode == "streaming" and result.current_rows == ROWS
    assert {c.column for c in result.columns if c.status == TESTED} == set(cur_data.schema.names)


def test_auto_mode_streams_past_the_exact_budget(monkeypatch):
    monkeypatch.setattr(scan, "EXACT_MAX_CELLS", 1_000)
    assert detect_drift(table(400, 0, 1), table(400, 0, 2)).mode == "streaming"
    monkeypatch.setattr(scan, "EXACT_MAX_CELLS", 10_000)
    assert detect_drift(table(400, 0, 1), table(400, 0, 2)).mode == "exact"


def test_unknown_mode_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown drift mode 'fast'.*'exact', 'streaming'"):
        detect_drift(table(100, 0, 1), table(100, 0, 2), mode="fast")


def test_streaming_chisquare_on_a_continuous_column_says_what_to_use(small_batches):
    ref, cur = table(ROWS, 0, 1), table(ROWS, 0, 2)
    with pytest.raises(ConfigError, match=r"too many distinct values.*--mode exact"):
        detect_drift(ref, cur, columns=["plain"], method="chisquare", mode="streaming")


def test_cli_drift_streaming_json_carries_mode_and_bounds(small_batches, tmp_path, capsys):
    ref = write_parts(tmp_path / "ref", table(ROWS, 0.0, 15))
    cur = write_parts(tmp_path / "cur", table(ROWS, 1.0, 16))
    args = [str(ref), str(cur), "--mode", "streaming", "--format", "json"]
    code = cli_drift._drift_cmd(cli_drift_args(args))
    out = json.loads(capsys.readouterr().out)
    assert code == 3 and out["dataset"]["mode"] == "streaming" and out["dataset"]["drifted"]
    bounds = {c["column"]: c["error_bound"] for c in out["columns"]}
    assert bounds["plain"] > 0 and bounds["city"] == 0


def cli_drift_args(argv):
    import argparse

    parser = argparse.ArgumentParser()
    cli_drift.add_parser(parser.add_subparsers())
    return parser.parse_args(["drift", *argv])


def test_large_csv_is_streamed_block_by_block_with_rows_counted(
    monkeypatch, small_batches, tmp_path
):

    monkeypatch.setattr(sources, "MAX_WHOLE_CSV_BYTES", 0)  # every CSV counts as large
    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", 1 << 16)
    ref, cur = table(ROWS, 0.0, 17), table(ROWS, 0.5, 18)
    paths = []
    for name, data in (("ref.csv", ref), ("cur.csv", cur)):
        data.to_pandas().to_csv(tmp_path / name, index=False)
        paths.append(str(tmp_path / name))
    source = open_source(paths[0], "reference")
    assert isinstance(source, sources.CsvSource) and source.num_rows is None
    streamed = detect_drift(source, open_source(paths[1], "current"))
    exact = detect_drift(ref, cur, mode="exact")
    assert streamed.mode == "streaming" and streamed.reference_rows == ROWS == streamed.current_rows
    for s, e in zip(streamed.columns, exact.columns, strict=True):
        assert (s.column, s.method, s.drifted) == (e.column, e.method, e.drifted)


def test_large_csv_with_a_late_value_of_another_type_says_to_use_parquet(monkeypatch, tmp_path):
    from components._shared.errors import DataError

    monkeypatch.setattr(sources, "MAX_WHOLE_CSV_BYTES", 0)
    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", 1 << 12)
    lines = ["n,city"] + [f"{i},a" for i in range(5_000)] + ["oops,b"]
    (tmp_path / "late.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="write the data as Parquet"):
        detect_drift(
            open_source(str(tmp_path / "late.csv")), open_source(str(tmp_path / "late.csv"))
        )
