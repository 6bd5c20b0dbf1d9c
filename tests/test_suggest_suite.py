"""suggest-suite: a starter GX suite that passes its own data and catches the bad-data cases."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from components._shared.errors import ConfigError, DataError
from components._shared.io import read_parquet, read_table, write_parquet
from components.validate_data.core import validate
from components.validate_data.suggest import suggest_suite
from kfp_mlops.cli import suggest as cli_suggest
from tests.conftest import GERMAN_CREDIT


@pytest.fixture(scope="module")
def german() -> pd.DataFrame:
    # Loaded the way the pipeline loads it: CSV bytes -> pandas via the shared reader.
    return read_table(str(GERMAN_CREDIT)).frame


@pytest.fixture(scope="module")
def suite(german) -> dict:
    return suggest_suite(german, "risk", "german_credit")


def failed_types(result) -> list[tuple[str, str | None]]:
    return sorted((c.expectation, c.column) for c in result.checks if not c.success)


def by_column(suite: dict, type_: str) -> dict:
    return {
        e["kwargs"].get("column"): e["kwargs"] for e in suite["expectations"] if e["type"] == type_
    }


# --- passes its own data ----------------------------------------------------------------


def test_suggest_suite_german_credit_validates_its_own_data_with_zero_failures(german, suite):
    result = validate(german, "risk", suite)
    assert result.success, result.reasons
    assert (result.evaluated, result.failed) == (len(suite["expectations"]), 0)
    assert result.suite_name == "german_credit"


def test_suggest_suite_german_credit_passes_after_the_parquet_snapshot(german, suite, tmp_path):
    # The pipeline validates load_data's Parquet snapshot, not the CSV frame itself.
    write_parquet(german, tmp_path / "snapshot.parquet")
    result = validate(read_parquet(tmp_path / "snapshot.parquet"), "risk", suite)
    assert result.success, result.reasons


def test_suggest_suite_german_credit_known_expectations(german, suite):
    assert suite["expectations"][0]["kwargs"] == {"min_value": 900, "max_value": 10000}
    assert suite["expectations"][1]["kwargs"] == {
        "column_set": sorted(german.columns),
        "exact_match": True,
    }
    value_sets = {
        c: k["value_set"] for c, k in by_column(suite, "expect_column_values_to_be_in_set").items()
    }
    assert value_sets["risk"] == [0, 1]
    assert value_sets["sex"] == ["female", "male"]
    assert value_sets["job"] == [0, 1, 2, 3]
    assert sorted(value_sets) == sorted(
        ["risk", "sex", "job", "housing", "saving_accounts", "checking_account", "purpose"]
    )
    ranges = by_column(suite, "expect_column_values_to_be_between")
    # age 19..75, span 56: padded by 5.6 and rounded outwards; credit_amount floors at 0.
    assert ranges["age"] == {"column": "age", "min_value": 13, "max_value": 81}
    assert ranges["credit_amount"]["min_value"] == 0
    assert sorted(ranges) == ["age", "credit_amount", "duration"]
    types = by_column(suite, "expect_column_values_to_be_in_type_list")
    assert types["age"]["type_list"] == ["int64"]
    assert sorted(types) == ["age", "credit_amount", "duration", "job", "risk"]  # text: none
    assert sorted(by_column(suite, "expect_column_values_to_not_be_null")) == sorted(german.columns)
    assert by_column(suite, "expect_column_unique_value_count_to_be_between") == {
        "risk": {"column": "risk", "min_value": 2}
    }


# --- catches the bad-data cases ---------------------------------------------------------


def test_suggest_suite_unseen_category_fails_naming_the_set_and_column(german, suite):
    bad = german.copy()
    bad.loc[:9, "sex"] = "unknown"
    result = validate(bad, "risk", suite)
    assert failed_types(result) == [("expect_column_values_to_be_in_set", "sex")]
    assert result.reasons[0].startswith(
        "expect_column_values_to_be_in_set(sex): 10 unexpected, e.g. ['unknown']"
    )


def test_suggest_suite_nulls_in_target_fail(german, suite):
    bad = german.copy()
    bad["risk"] = bad["risk"].astype("float64")
    bad.loc[[1, 2, 3], "risk"] = np.nan
    result = validate(bad, "risk", suite)
    assert ("expect_column_values_to_not_be_null", "risk") in failed_types(result)
    assert any(
        r.startswith("expect_column_values_to_not_be_null(risk): 3 unexpected")
        for r in result.reasons
    )


def test_suggest_suite_value_far_out_of_range_fails(german, suite):
    bad = german.copy()
    bad.loc[5, "age"] = 500
    result = validate(bad, "risk", suite)
    assert failed_types(result) == [("expect_column_values_to_be_between", "age")]
    assert "1 unexpected, e.g. [500]" in result.reasons[0]


def test_suggest_suite_missing_column_fails_on_the_column_set(german, suite):
    result = validate(german.drop(columns=["purpose"]), "risk", suite)
    assert not result.success
    failed = failed_types(result)
    assert ("expect_table_columns_to_match_set", None) in failed
    # every expectation on the missing column fails too (GX reports the missing column)
    assert {c for _, c in failed} == {None, "purpose"}


def test_suggest_suite_extra_column_fails_on_the_column_set(german, suite):
    result = validate(german.assign(leak=german["risk"]), "risk", suite)
    assert failed_types(result) == [("expect_table_columns_to_match_set", None)]


def test_suggest_suite_too_few_rows_fails_on_row_count(german, suite):
    result = validate(german.head(800), "risk", suite)
    assert failed_types(result) == [("expect_table_row_count_to_be_between", None)]
    assert result.reasons[0].startswith("expect_table_row_count_to_be_between: observed 800")


def test_suggest_suite_slightly_bigger_file_still_passes(german, suite):
    bigger = pd.concat([german, german.head(300)], ignore_index=True)
    assert validate(bigger, "risk", suite).success


# --- deterministic JSON -----------------------------------------------------------------


def test_suggest_suite_same_table_in_any_row_or_column_order_gives_the_same_suite(german, suite):
    shuffled = german.sample(frac=1, random_state=3)[list(reversed(german.columns))]
    again = suggest_suite(shuffled.reset_index(drop=True), "risk", "german_credit")
    assert json.dumps(again) == json.dumps(suite)
    assert suggest_suite(german, "risk", "german_credit") == suite


def test_suggest_suite_whole_numbers_are_json_ints(suite):
    def numbers(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from numbers(v)
        elif isinstance(value, list):
            for v in value:
                yield from numbers(v)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield value

    found = list(numbers([e["kwargs"] for e in suite["expectations"]]))
    assert found and all(isinstance(n, int) for n in found)  # German credit is all whole
    assert '"min_value": 900,' in json.dumps(suite)


# --- known answers on tiny data ---------------------------------------------------------


def tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": ["a", "b", "a", "b"],
            "x": [1.5, 2.25, 4.0, 3.0],
            "n": [10, 20, None, 40],
            "d": [-5, 5, 0, 1],
            "flag": [True, False, True, True],
        }
    )


def test_suggest_suite_tiny_known_answers():
    suite = suggest_suite(tiny(), "y", margin=0.1, max_categories=2)
    assert suite["name"] == "suggested"
    kwargs = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    between = "expect_column_values_to_be_between"
    assert kwargs[(between, "x")] == {"column": "x", "min_value": 1.25, "max_value": 4.25}
    assert kwargs[(between, "n")] == {"column": "n", "min_value": 7, "max_value": 43}
    assert kwargs[(between, "d")] == {"column": "d", "min_value": -6, "max_value": 6}
    types = "expect_column_values_to_be_in_type_list"
    assert kwargs[(types, "n")]["type_list"] == ["float64", "int64"]
    assert kwargs[(types, "flag")]["type_list"] == ["bool"]
    # one null in 4 rows may grow by 10%: 1 - 0.275 = 0.725, rounded down
    assert kwargs[("expect_column_values_to_not_be_null", "n")]["mostly"] == 0.72
    assert kwargs[("expect_column_values_to_be_in_set", "flag")]["value_set"] == [False, True]
    assert kwargs[("expect_column_values_to_be_in_set", "y")]["value_set"] == ["a", "b"]
    assert kwargs[("expect_table_row_count_to_be_between", None)] == {
        "min_value": 3,
        "max_value": 40,
    }


def test_suggest_suite_tiny_passes_its_own_data_and_tomorrows_without_nulls():
    suite = suggest_suite(tiny(), "y", max_categories=2)
    assert validate(tiny(), "y", suite).success
    # the null-bearing whole-number column comes back as int64 when a file has no nulls
    tomorrow = tiny().assign(n=[10, 20, 30, 40])
    assert tomorrow["n"].dtype == "int64"
    assert validate(tomorrow, "y", suite).success


def test_suggest_suite_fractional_column_with_few_values_gets_a_range_not_a_set():
    frame = pd.DataFrame({"y": [0, 1] * 3, "rate": [0.5, 0.25] * 3})
    types = [(e["type"], e["kwargs"].get("column")) for e in suggest_suite(frame)["expectations"]]
    assert ("expect_column_values_to_be_between", "rate") in types
    assert ("expect_column_values_to_be_in_set", "rate") not in types
    assert ("expect_column_values_to_be_in_set", "y") in types


# --- bad inputs -------------------------------------------------------------------------


def test_suggest_suite_missing_target_lists_the_columns():
    with pytest.raises(
        DataError, match=r"target column 'label' is not in the data; available columns: \['y', 'x'"
    ):
        suggest_suite(tiny(), "label")


def test_suggest_suite_target_with_nulls_is_refused():
    with pytest.raises(DataError, match=r"target column 'n' has 1 nulls in the reference"):
        suggest_suite(tiny(), "n")


@pytest.mark.parametrize("margin", [-0.1, 1, 1.5, True])
def test_suggest_suite_margin_out_of_range_is_refused(margin):
    with pytest.raises(ConfigError, match=r"margin must be a number in \[0, 1\)"):
        suggest_suite(tiny(), margin=margin)


def test_suggest_suite_max_categories_below_one_is_refused():
    with pytest.raises(ConfigError, match="max_categories must be an integer >= 1, got 0"):
        suggest_suite(tiny(), max_categories=0)


# --- CLI --------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    # The command's own parser, as `kfp-mlops` registers it through add_parser.
    parser = argparse.ArgumentParser(prog="kfp-mlops")
    cli_suggest.add_parser(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return args.func(args)


def test_suggest_suite_cli_writes_a_suite_that_round_trips_through_validate(
    tmp_path, capsys, german
):
    out = tmp_path / "suites" / "german.json"
    assert (
        run_cli("suggest-suite", str(GERMAN_CREDIT), "--target", "risk", "--output", str(out)) == 0
    )
    written = json.loads(out.read_text())
    assert written["name"] == "german_credit"
    assert written["meta"]["dataset"] == str(GERMAN_CREDIT)
    err = capsys.readouterr().err
    assert f"suggested {len(written['expectations'])} expectations for 10 columns" in err
    assert validate(german, "risk", written).success
    assert [p.name for p in out.parent.iterdir()] == ["german.json"]  # no temp file left


def test_suggest_suite_cli_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "suite.json"
    out.write_text("hand-edited, keep me")
    args = ("suggest-suite", str(GERMAN_CREDIT), "--target", "risk", "--output", str(out))
    assert run_cli(*args) == 1
    assert f"{out} already exists; pass --force to overwrite it" in capsys.readouterr().err
    assert out.read_text() == "hand-edited, keep me"
    assert run_cli(*args, "--force") == 0
    assert json.loads(out.read_text())["name"] == "german_credit"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.json"]


def test_suggest_suite_cli_prints_to_stdout_without_output(capsys, german, suite):
    assert run_cli("suggest-suite", str(GERMAN_CREDIT), "--target", "risk") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["expectations"] == suite["expectations"]


def test_suggest_suite_cli_missing_data_fails_naming_the_path(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert run_cli("suggest-suite", str(missing)) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "no such file" in err


def test_suggest_suite_cli_bad_margin_is_a_usage_error(capsys):
    assert run_cli("suggest-suite", str(GERMAN_CREDIT), "--margin", "2") == 2
    assert "expected a number in [0, 1), got '2'" in capsys.readouterr().err
