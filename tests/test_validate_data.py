"""validate_data: GX suites, the baseline, malformed suites, artifacts written before failing."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from google.protobuf import json_format, struct_pb2
from kfp import dsl

from components._shared.errors import ConfigError, DataError
from components._shared.io import write_parquet
from components.validate_data import component
from components.validate_data.core import validate
from tests.conftest import GERMAN_CREDIT, REPO

SUITE_FILE = REPO / "data" / "suites" / "german_credit.json"


def german_suite() -> dict:
    return json.loads(SUITE_FILE.read_text())


def tiny(rows: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": np.tile([0, 1], rows // 2),
            "x": rng.normal(size=rows),
            "colour": rng.choice(["red", "blue"], size=rows),
        }
    )


def one(type_: str, **kwargs) -> dict:
    return {"name": "t", "expectations": [{"type": type_, "kwargs": kwargs}]}


# --- core: passing data -----------------------------------------------------------------


def test_validate_data_german_credit_passes_the_committed_suite():
    suite = german_suite()
    result = validate(pd.read_csv(GERMAN_CREDIT), "risk", suite, 1)
    assert result.success, result.reasons
    assert (result.evaluated, result.failed) == (len(suite["expectations"]), 0)
    assert result.suite_name == "german_credit"
    assert result.success_percent == 100.0


def test_validate_data_suite_hash_is_sha256_of_its_canonical_json():
    suite = german_suite()
    canonical = json.dumps(suite, sort_keys=True, separators=(",", ":"))
    result = validate(pd.read_csv(GERMAN_CREDIT), "risk", suite, 1)
    assert result.suite_sha256 == hashlib.sha256(canonical.encode()).hexdigest()


def test_validate_data_suite_through_a_kfp_struct_keeps_its_hash_and_passes():
    # A KFP dict parameter travels as a protobuf Struct: every number comes back a float.
    suite = german_suite()
    struct = struct_pb2.Struct()
    struct.update(suite)
    travelled = json_format.MessageToDict(struct)
    assert travelled["expectations"][0]["kwargs"]["min_value"] == 500.0
    frame = pd.read_csv(GERMAN_CREDIT)
    direct, via_struct = validate(frame, "risk", suite, 1), validate(frame, "risk", travelled, 1)
    assert via_struct.success
    assert via_struct.suite_sha256 == direct.suite_sha256


def test_validate_data_empty_suite_runs_the_baseline_and_german_credit_passes():
    result = validate(pd.read_csv(GERMAN_CREDIT), "risk", {}, 100)
    assert result.success
    assert result.suite_name == "baseline"
    # row count, target not null, target classes, then one not-all-null check per other column
    assert result.evaluated == 3 + 9
    assert result.markdown().startswith("# Data validation: PASSED")


def test_validate_data_suite_without_expectations_also_means_baseline():
    result = validate(tiny(), "y", {"name": "empty", "expectations": []}, 1)
    assert result.suite_name == "baseline"
    assert result.evaluated == 3 + 2


def test_validate_data_baseline_hash_depends_on_min_rows():
    frame = tiny()
    assert validate(frame, "y", {}, 1).suite_sha256 != validate(frame, "y", {}, 2).suite_sha256


# --- core: failing data -----------------------------------------------------------------


def test_validate_data_nulls_in_target_fail_with_expectation_and_count():
    frame = tiny()
    frame["y"] = frame["y"].astype("float64")
    frame.loc[[0, 3, 7], "y"] = np.nan
    result = validate(frame, "y", {}, 1)
    assert not result.success
    assert result.failed == 1
    assert result.reasons == [
        "expect_column_values_to_not_be_null(y): 3 unexpected — every row needs a value of "
        "the target 'y'"
    ]
    assert "3 unexpected" in result.failure_message()


def test_validate_data_single_class_target_fails_with_a_clear_reason():
    frame = tiny().assign(y=1)
    result = validate(frame, "y", {}, 1)
    assert not result.success
    assert result.reasons == [
        "expect_column_unique_value_count_to_be_between(y): observed 1 — the target 'y' needs "
        "at least 2 classes to train a classifier"
    ]


def test_validate_data_all_null_column_fails_but_partly_null_column_passes():
    frame = tiny().assign(empty=None, partly=[None] * 5 + [1.0] * 15)
    result = validate(frame, "y", {}, 1)
    assert result.reasons == [
        "expect_column_values_to_not_be_null(empty): 20 unexpected — column 'empty' is "
        "entirely null; drop it or fix its source"
    ]
    partly = next(c for c in result.checks if c.column == "partly")
    assert partly.success and partly.unexpected_count == 5


def test_validate_data_too_few_rows_fails_on_min_rows():
    result = validate(tiny(rows=20), "y", {}, 21)
    assert result.reasons == [
        "expect_table_row_count_to_be_between: observed 20 — the table needs at least "
        "min_rows=21 rows"
    ]


def test_validate_data_value_outside_set_reports_count_and_examples():
    frame = tiny().assign(colour=["green"] * 2 + ["red"] * 18)
    result = validate(
        frame,
        "y",
        one("expect_column_values_to_be_in_set", column="colour", value_set=["red", "blue"]),
        1,
    )
    assert result.reasons == [
        "expect_column_values_to_be_in_set(colour): 2 unexpected, e.g. ['green']"
    ]


def test_validate_data_user_suite_column_missing_names_it_and_the_columns_there():
    result = validate(
        tiny(), "y", one("expect_column_values_to_be_in_set", column="ghost", value_set=[1]), 1
    )
    assert not result.success
    assert result.reasons == [
        "expect_column_values_to_be_in_set(ghost): raised: column(s) ['ghost'] not in the "
        "data, which has columns ['y', 'x', 'colour']; fix the column name in the suite, or "
        "the data"
    ]


def test_validate_data_failed_report_has_verdict_first_and_a_row_per_expectation():
    frame = tiny().assign(y=1)
    text = validate(frame, "y", {}, 1).markdown()
    lines = text.splitlines()
    assert lines[0] == "# Data validation: FAILED"
    assert "- expect_column_unique_value_count_to_be_between(y): observed 1" in text
    assert sum(line.startswith("| expect_") for line in lines) == 5


# --- core: bad inputs -------------------------------------------------------------------


def test_validate_data_missing_target_lists_the_available_columns():
    with pytest.raises(
        DataError,
        match=r"target column 'label' is not in the data; available columns: "
        r"\['y', 'x', 'colour'\]; set target_column to one of them",
    ):
        validate(tiny(), "label", {}, 1)


def test_validate_data_missing_target_is_checked_even_with_a_user_suite():
    with pytest.raises(DataError, match="target column 'label' is not in the data"):
        validate(tiny(), "label", german_suite(), 1)


def test_validate_data_unknown_expectation_type_names_index_and_lists_valid_types():
    suite = {
        "name": "t",
        "expectations": [
            {"type": "expect_column_to_exist", "kwargs": {"column": "y"}},
            {"type": "expect_column_to_be_lovely", "kwargs": {"column": "y"}},
        ],
    }
    with pytest.raises(
        ConfigError,
        match=r"suite expectation #1 \(expect_column_to_be_lovely\): unknown expectation type "
        r"'expect_column_to_be_lovely'; (did you mean '[a-z_]+'\? )?expected one of "
        r"\[.*'expect_column_to_exist'",
    ):
        validate(tiny(), "y", suite, 1)


def test_validate_data_wrong_kwargs_name_the_expectation_and_the_bad_argument():
    with pytest.raises(
        ConfigError,
        match=r"suite expectation #0 \(expect_column_to_exist\) has invalid kwargs "
        r"\{'colum': 'y'\}: column: field required; colum: extra fields not permitted",
    ):
        validate(tiny(), "y", one("expect_column_to_exist", colum="y"), 1)


def test_validate_data_bad_argument_value_is_named():
    with pytest.raises(ConfigError, match=r"#0 \(expect_column_values_to_be_between\).*min_value"):
        validate(
            tiny(), "y", one("expect_column_values_to_be_between", column="x", min_value="low"), 1
        )


def test_validate_data_expectation_without_type_shows_the_expected_shape():
    suite = {"name": "t", "expectations": [{"kwargs": {"column": "y"}}]}
    with pytest.raises(ConfigError, match=r'suite expectation #0 is .*; expected \{"type"'):
        validate(tiny(), "y", suite, 1)


def test_validate_data_suite_with_unknown_keys_lists_the_gx_keys():
    with pytest.raises(ConfigError, match=r"unexpected keys \['expectation_suite_name'\]"):
        validate(tiny(), "y", {"expectation_suite_name": "old 0.x form", "expectations": []}, 1)


def test_validate_data_suite_that_is_not_a_dict_is_refused():
    with pytest.raises(ConfigError, match="suite must be a dict in GX JSON form, got list"):
        validate(tiny(), "y", [], 1)


def test_validate_data_min_rows_below_one_is_refused():
    with pytest.raises(ConfigError, match="min_rows must be an integer >= 1, got 0"):
        validate(tiny(), "y", {}, 0)


# --- component --------------------------------------------------------------------------


def run_component(tmp_path, frame, suite, target="risk", min_rows=1):
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    write_parquet(frame, dataset.path)
    outputs = {
        "validation": dsl.Artifact(uri=str(tmp_path / "validation")),
        "report": dsl.Markdown(uri=str(tmp_path / "report")),
        "metrics": dsl.Metrics(uri=str(tmp_path / "metrics")),
    }
    component.validate_data.python_func(
        dataset=dataset,
        target_column=target,
        suite=suite,
        min_rows=min_rows,
        model_name="credit",
        kfp_run_id="",
        **outputs,
    )
    return outputs


def test_validate_data_component_german_credit_writes_result_report_and_metrics(tmp_path):
    suite = german_suite()
    out = run_component(tmp_path, pd.read_csv(GERMAN_CREDIT), suite)
    result = json.loads((tmp_path / "validation").read_text())
    assert result["success"] is True
    assert result["suite_name"] == "german_credit"
    assert out["validation"].metadata == {
        "success": True,
        "suite_sha256": hashlib.sha256(
            json.dumps(suite, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest(),
        "evaluated": len(suite["expectations"]),
        "failed": 0,
        "suite_name": "german_credit",
    }
    assert (tmp_path / "report").read_text().startswith("# Data validation: PASSED")
    assert out["report"].metadata == {
        "passed": True,
        "reasons": [],
        "evaluated": len(suite["expectations"]),
        "failed": 0,
    }
    assert out["metrics"].metadata == {
        "expectations_evaluated": len(suite["expectations"]),
        "expectations_failed": 0,
        "success_percent": 100.0,
        "rows": 1000,
    }


def test_validate_data_component_bad_data_raises_after_writing_everything(tmp_path):
    frame = pd.read_csv(GERMAN_CREDIT)
    frame["risk"] = frame["risk"].astype("float64")
    frame.loc[[1, 2, 3], "risk"] = np.nan
    outputs = {
        "validation": dsl.Artifact(uri=str(tmp_path / "validation")),
        "report": dsl.Markdown(uri=str(tmp_path / "report")),
        "metrics": dsl.Metrics(uri=str(tmp_path / "metrics")),
    }
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    write_parquet(frame, dataset.path)
    with pytest.raises(
        DataError,
        match=r"data failed validation against suite 'baseline': 1 of 12 expectations failed: "
        r"expect_column_values_to_not_be_null\(risk\): 3 unexpected",
    ):
        component.validate_data.python_func(
            dataset=dataset,
            target_column="risk",
            suite={},
            min_rows=100,
            model_name="credit",
            kfp_run_id="",
            **outputs,
        )
    assert json.loads((tmp_path / "validation").read_text())["success"] is False
    assert (tmp_path / "report").read_text().startswith("# Data validation: FAILED")
    assert outputs["validation"].metadata["success"] is False
    assert outputs["validation"].metadata["failed"] == 1
    assert outputs["report"].metadata["passed"] is False
    assert outputs["report"].metadata["reasons"] == [
        "expect_column_values_to_not_be_null(risk): 3 unexpected — every row needs a value of "
        "the target 'risk'"
    ]
    assert outputs["metrics"].metadata["expectations_failed"] == 1


def test_validate_data_check_suite_refuses_a_bad_suite_without_any_data():
    from components.validate_data.suite import check_suite

    check_suite({})  # the baseline: checked once the data's columns are known
    check_suite(
        {
            "name": "s",
            "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "ghost"}}],
        }
    )
    with pytest.raises(ConfigError, match=r"suite 5 is not a valid GX suite: name must be"):
        check_suite(
            {
                "name": 5,
                "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "a"}}],
            }
        )
    with pytest.raises(ConfigError, match=r"did you mean 'expect_column_to_exist'\?"):
        check_suite(
            {
                "name": "s",
                "expectations": [{"type": "expect_colum_to_exist", "kwargs": {"column": "a"}}],
            }
        )
