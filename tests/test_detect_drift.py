"""The drift gate: auto choice on real shapes of data, bad inputs, reports, CLI and component."""

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kfp import dsl

from components._shared.errors import ConfigError, DataError
from components._shared.io import upload_file, write_parquet
from components._shared.io.sources import open_source
from components.detect_drift import component
from components.detect_drift.core import detect_drift
from components.detect_drift.report import as_json, metrics_of, render_html, render_markdown
from components.detect_drift.results import SCHEMA_CHANGE, SKIPPED
from kfp_mlops.cli import drift as cli_drift
from tests.conftest import GERMAN_CREDIT


def read_dataset(uri: str, columns: list[str] | None = None, label: str = "input"):
    """The selected columns (or all) of a file, folder or prefix, through the drift reader."""
    source = open_source(uri, label)
    return source.table(columns or list(source.schema.names)).to_pandas()


def frames(n_ref=400, n_cur=300, shift=0.0, seed=1):
    """A numeric, a small-integer, a text and a binary column; `shift` moves all four."""
    rng = np.random.default_rng(seed)

    def make(n, s):
        return pd.DataFrame(
            {
                "income": rng.normal(50 + 20 * s, 10, n),
                "children": rng.integers(0, 4 + int(3 * s), n),
                "city": rng.choice(["a", "b", "c"], n, p=[0.6 - 0.4 * s, 0.3, 0.1 + 0.4 * s]),
                "owner": rng.choice(["yes", "no"], n, p=[0.5 + 0.4 * s, 0.5 - 0.4 * s]),
            }
        )

    return make(n_ref, 0.0), make(n_cur, shift)


def by_column(result):
    return {c.column: c for c in result.columns}


def test_detect_drift_small_reference_uses_ks_chisquare_and_z():
    cols = by_column(detect_drift(*frames()))
    assert cols["income"].method == "ks" and cols["income"].column_type == "numerical"
    assert cols["children"].column_type == "categorical"  # integer with <= 10 values
    assert cols["children"].method == "chisquare"
    assert (cols["city"].method, cols["owner"].method) == ("chisquare", "z")


def test_detect_drift_large_reference_uses_wasserstein_and_jensenshannon():
    cols = by_column(detect_drift(*frames(n_ref=1001)))
    assert cols["income"].method == "wasserstein" and cols["income"].threshold == 0.1
    assert {cols[c].method for c in ("children", "city", "owner")} == {"jensenshannon"}


def test_detect_drift_large_reference_flags_shift_by_distance_only_where_shifted():
    ref, cur = frames(n_ref=2000, n_cur=2000, seed=5)
    cur["income"] += 5  # half a std: normed Wasserstein ~0.5
    cols = by_column(detect_drift(ref, cur))
    assert cols["income"].drifted and cols["income"].score == pytest.approx(0.5, abs=0.1)
    assert not any(cols[c].drifted for c in ("children", "city", "owner"))


def test_detect_drift_integer_with_many_values_is_numerical():
    ref = pd.DataFrame({"age": np.arange(20, 60)})
    cols = by_column(detect_drift(ref, ref.copy()))
    assert cols["age"].column_type == "numerical" and cols["age"].method == "ks"


def test_detect_drift_shifted_data_flags_every_column_and_the_dataset():
    result = detect_drift(*frames(shift=1.0))
    assert result.drifted_columns == ["income", "children", "city", "owner"]
    assert result.drifted and result.drift_share == 1.0


def test_detect_drift_same_distribution_is_not_flagged():
    # Evidently's chi-square takes the reference shares as exact, so it flags sampling noise
    # more often than a two-sample test would: this seed's samples are within it.
    result = detect_drift(*frames(shift=0.0, seed=9))
    assert result.drifted_columns == [] and not result.drifted


def test_detect_drift_dataset_share_threshold_is_inclusive_and_configurable():
    ref, cur = frames(seed=9)
    cur["income"] += 30  # one of four columns drifts: share 0.25
    assert detect_drift(ref, cur, drift_share=0.25).drifted
    assert not detect_drift(ref, cur, drift_share=0.5).drifted


def test_detect_drift_explicit_method_and_per_column_thresholds():
    ref, cur = frames(seed=9)
    result = detect_drift(
        ref, cur, method="psi", thresholds={"city": 0.5}, per_column_methods={"income": "ks"}
    )
    cols = by_column(result)
    assert (cols["income"].method, cols["city"].method) == ("ks", "psi")
    assert (cols["city"].threshold, cols["owner"].threshold) == (0.5, 0.1)


def test_detect_drift_reports_null_shares_and_unseen_categories():
    ref = pd.DataFrame({"city": ["a", "b", None, "a"] * 10})
    cur = pd.DataFrame({"city": ["a", "b", "z", "y"] * 10})
    col = detect_drift(ref, cur).columns[0]
    assert (col.reference_null_share, col.current_null_share) == (0.25, 0.0)
    assert col.unseen_categories == ("y", "z") and col.unseen_count == 2


def test_detect_drift_integer_categories_are_labelled_as_integers():
    ref = pd.DataFrame({"job": pd.array([0, 1, 2, None] * 10, dtype="Int64")})
    cur = pd.DataFrame({"job": [0, 1, 2, 3, 4] * 8})
    col = detect_drift(ref, cur).columns[0]
    assert col.column_type == "categorical" and col.unseen_categories == ("3", "4")
    assert col.reference_null_share == 0.25 and col.drifted


def test_detect_drift_nan_and_inf_are_dropped_and_reported():
    values = np.linspace(0, 1, 40)
    ref = pd.DataFrame({"x": values})
    cur = pd.DataFrame({"x": np.concatenate([values[:36], [np.nan, np.inf, -np.inf, np.nan]])})
    col = detect_drift(ref, cur).columns[0]
    assert col.current_null_share == pytest.approx(4 / 40)
    assert col.current_non_finite_share == pytest.approx(2 / 40)
    assert np.isfinite(col.score) and not col.drifted


def test_detect_drift_constant_column_gets_a_finite_score():
    ref = pd.DataFrame({"k": [5.0] * 1200, "v": np.arange(1200.0)})
    cols = by_column(detect_drift(ref, ref.copy()))
    assert cols["k"].method == "jensenshannon" and cols["k"].score == 0.0
    constant = detect_drift(ref, ref.copy(), per_column_methods={"k": "wasserstein"})
    assert by_column(constant)["k"].score == 0.0


def test_detect_drift_all_null_column_is_skipped_with_a_reason():
    ref, cur = frames()
    cur["city"] = None
    col = by_column(detect_drift(ref, cur))["city"]
    assert col.status == SKIPPED and not col.drifted
    assert "no non-null finite values in the current data" in col.reason


def test_detect_drift_type_change_is_a_schema_change_not_a_crash():
    ref, cur = frames()
    cur["income"] = cur["income"].map(lambda v: f"{v:.0f} EUR")
    result = detect_drift(ref, cur)
    col = by_column(result)["income"]
    assert (col.status, col.method, col.drifted) == (SCHEMA_CHANGE, SCHEMA_CHANGE, True)
    assert "numeric in the reference, text in the current" in col.reason


def test_detect_drift_column_missing_from_current_names_it_and_the_dataset():
    ref, cur = frames()
    with pytest.raises(DataError, match=r"'owner' is missing from the current data, which has"):
        detect_drift(ref, cur.drop(columns="owner"))
    assert len(detect_drift(ref, cur.drop(columns="owner"), columns=["income"]).columns) == 1


def test_detect_drift_column_missing_from_reference_is_an_error():
    ref, cur = frames()
    with pytest.raises(DataError, match=r"'income' is missing from the reference data"):
        detect_drift(ref.drop(columns="income"), cur)


def test_detect_drift_empty_current_is_a_data_error():
    ref, cur = frames()
    with pytest.raises(DataError, match="the current dataset has no rows"):
        detect_drift(ref, cur.iloc[:0])


def test_detect_drift_unknown_method_and_bad_threshold_are_config_errors():
    ref, cur = frames()
    with pytest.raises(ConfigError, match=r"unknown drift method 'kst'; expected one of \['auto'"):
        detect_drift(ref, cur, method="kst")
    with pytest.raises(ConfigError, match=r"threshold 1.5 for column 'income' \(ks\) is out"):
        detect_drift(ref, cur, thresholds={"income": 1.5})
    with pytest.raises(ConfigError, match=r"name columns \['nope'\] not compared"):
        detect_drift(ref, cur, thresholds={"nope": 0.1})
    with pytest.raises(ConfigError, match="drift_share 0 is out of range"):
        detect_drift(ref, cur, drift_share=0)


def test_detect_drift_json_has_dataset_and_columns_shape():
    payload = json.loads(json.dumps(as_json(detect_drift(*frames(shift=1.0)))))
    assert {"drift_share", "drifted", "drift_share_threshold"} <= set(payload["dataset"])
    assert {"column", "method", "score", "threshold", "drifted"} <= set(payload["columns"][0])


def test_detect_drift_html_is_bounded_and_holds_no_raw_values():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({f"c{i}": rng.normal(1e6, 1, 500) for i in range(100)})
    cur = pd.DataFrame({f"c{i}": rng.normal(1e6 + (i % 2), 1, 500) for i in range(100)})
    page = render_html(detect_drift(ref, cur))
    assert len(page.encode()) < 200_000
    # No raw row value (all near 1e6, none whole) appears: scores, thresholds, shares, and the
    # charts' bin edges, which are round numbers rather than the data's own extremes.
    assert not re.search(r"\b(1000\d{3}|99999\d)\.\d", page)
    numbers = set(re.findall(r"\d+(?:\.\d+)?", page))
    raw = np.concatenate([ref.to_numpy().ravel(), cur.to_numpy().ravel()])
    assert not any(repr(float(v)) in numbers for v in raw)
    assert page.count("<tr>") == 101 and "<script" not in page


def test_detect_drift_markdown_says_verdict_and_lists_columns():
    text = render_markdown(detect_drift(*frames(shift=1.0)))
    assert text.startswith("# Drift: DRIFTED") and "| income | ks |" in text


def test_detect_drift_metrics_are_numbers_per_column():
    numbers = metrics_of(detect_drift(*frames(shift=1.0)))
    assert numbers["drifted"] == 1.0 and numbers["columns_drifted"] == 4.0
    assert set(numbers) >= {"score_income", "score_city"}


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="kfp-mlops")
    cli_drift.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def write_pair(tmp_path, shift):
    ref, cur = frames(shift=shift)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    write_parquet(cur, tmp_path / "cur.parquet")
    return str(tmp_path / "ref.csv"), str(tmp_path / "cur.parquet")


def test_cli_drift_json_and_exit_code_three_on_dataset_drift(tmp_path, capsys):
    ref, cur = write_pair(tmp_path, shift=1.0)
    report = tmp_path / "out" / "drift.html"
    code = run_cli(["drift", ref, cur, "--format", "json", "--report", str(report)])
    payload = json.loads(capsys.readouterr().out)
    assert code == 3 and payload["dataset"]["drifted"] is True
    assert [c["column"] for c in payload["columns"]] == ["income", "children", "city", "owner"]
    assert report.read_text().startswith("<!DOCTYPE html>")


def test_cli_drift_no_drift_exits_zero_with_text(tmp_path, capsys):
    ref, cur = write_pair(tmp_path, shift=0.0)
    assert run_cli(["drift", ref, cur, "--columns", "income,city", "--drift-share", "0.9"]) == 0
    assert capsys.readouterr().out.startswith("# Drift: NO DRIFT")


def test_cli_drift_unknown_method_is_usage_error_and_missing_file_a_failure(tmp_path, capsys):
    ref, cur = write_pair(tmp_path, shift=0.0)
    assert run_cli(["drift", ref, cur, "--method", "nope", "--format", "json"]) == 2
    assert "unknown drift method 'nope'" in json.loads(capsys.readouterr().out)["error"]
    assert run_cli(["drift", ref, str(tmp_path / "absent.csv")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_cli_drift_bad_threshold_pair_is_usage_error(tmp_path, capsys):
    ref, cur = write_pair(tmp_path, shift=0.0)
    assert run_cli(["drift", ref, cur, "--threshold", "income"]) == 2
    assert "is not COLUMN=VALUE" in capsys.readouterr().err


def test_detect_drift_reader_reads_folder_of_parquet_files_selected_columns(tmp_path):
    ref, _ = frames()
    write_parquet(ref.iloc[:200], tmp_path / "parts" / "a.parquet")
    write_parquet(ref.iloc[200:], tmp_path / "parts" / "b.parquet")
    frame = read_dataset(str(tmp_path / "parts"), ["city", "income"])
    assert list(frame.columns) == ["city", "income"] and len(frame) == 400
    with pytest.raises(DataError, match=r"'absent' is missing from the current data .* has col"):
        read_dataset(str(tmp_path / "parts"), ["city", "absent"], "current")


def test_detect_drift_component_on_german_credit_artifacts(tmp_path):
    data = pd.read_csv(GERMAN_CREDIT)
    shifted = data.iloc[500:].assign(credit_amount=lambda f: f["credit_amount"] * 3)
    reference, current = (
        dsl.Dataset(uri=str(tmp_path / "ref")),
        dsl.Dataset(uri=str(tmp_path / "cur")),
    )
    write_parquet(data.iloc[:500], reference.path)  # KFP paths have no suffix
    write_parquet(shifted, current.path)
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    report, html = dsl.Markdown(uri=str(tmp_path / "r")), dsl.HTML(uri=str(tmp_path / "r.html"))
    drifted = component.detect_drift.python_func(
        reference=reference,
        current=current,
        columns=[],
        method="auto",
        drift_share=0.5,
        thresholds={},
        column_methods={},
        model_name="",
        model_alias="",
        kfp_run_id="",
        metrics=metrics,
        report=report,
        report_html=html,
    )
    assert drifted is False
    # The gate contract: a Markdown report whose metadata holds passed and reasons.
    assert report.metadata["passed"] is True and "reasons" in report.metadata
    assert "credit_amount" in report.metadata["columns_drifted"]
    assert metrics.metadata["score_credit_amount"] < 0.05
    assert "<table>" in Path(html.path).read_text()


def test_detect_drift_reads_s3_prefix_of_many_parquet_files(stack, tmp_path):
    ref, cur = frames(shift=1.0)
    for i, start in enumerate(range(0, len(cur), 100)):
        write_parquet(cur.iloc[start : start + 100], tmp_path / f"part{i}.parquet")
        upload_file(tmp_path / f"part{i}.parquet", f"s3://drift-test/current/part{i}.parquet")
    frame = read_dataset("s3://drift-test/current/", ["income", "owner"])
    assert len(frame) == len(cur) and list(frame.columns) == ["income", "owner"]
    assert detect_drift(ref[["income", "owner"]], frame).drifted
    one = read_dataset("s3://drift-test/current/part0.parquet", ["city"])
    assert list(one.columns) == ["city"] and len(one) == 100
    with pytest.raises(DataError, match=r"s3://drift-test/nothing/ holds no .parquet files"):
        read_dataset("s3://drift-test/nothing/")


def test_detect_drift_component_returns_true_on_dataset_drift_without_raising(tmp_path):
    ref, cur = frames(shift=1.0)
    reference = dsl.Dataset(uri=str(tmp_path / "ref"))
    current = dsl.Dataset(uri=str(tmp_path / "cur"))
    write_parquet(ref, reference.path)
    write_parquet(cur, current.path)
    summary = dsl.Markdown(uri=str(tmp_path / "report.md"))
    drifted = component.detect_drift.python_func(
        reference=reference,
        current=current,
        columns=["income", "city"],
        method="auto",
        drift_share=0.5,
        metrics=dsl.Metrics(uri=str(tmp_path / "metrics")),
        report=summary,
        report_html=dsl.HTML(uri=str(tmp_path / "report.html")),
        thresholds={"income": 0.01},
        column_methods={"city": "psi"},
        model_name="",
        model_alias="",
        kfp_run_id="",
    )
    assert drifted is True
    assert summary.metadata["passed"] is False and summary.metadata["drifted"] is True
    assert summary.metadata["columns_drifted"] == ["income", "city"]
    assert Path(summary.path).read_text().startswith("# Drift: DRIFTED")


def test_cli_drift_missing_column_names_dataset_and_its_columns(tmp_path, capsys):
    ref, cur = write_pair(tmp_path, shift=0.0)
    assert run_cli(["drift", ref, cur, "--columns", "income", "absent"]) == 1
    err = capsys.readouterr().err
    assert "'absent' is missing from the reference data" in err
    assert "['income', 'children', 'city', 'owner']" in err
