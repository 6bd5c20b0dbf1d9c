"""The gates' figures and records as pure functions of what their cores return."""

import math

import pytest

from components.check_fairness.core import FairnessResult, FeatureFairness, GroupRates
from components.check_fairness.signals import MAX_GROUPS_PUSHED
from components.check_fairness.signals import figures_of as fairness_figures
from components.check_fairness.signals import record_of as fairness_record
from components.deploy_model.core import Outcome
from components.deploy_model.judge import Thresholds as CanaryLimits
from components.deploy_model.judge import Verdict
from components.deploy_model.signals import figures_of as deploy_figures
from components.deploy_model.signals import record_of as deploy_record
from components.detect_drift.results import SCHEMA_CHANGE, SKIPPED, TESTED, ColumnDrift, DriftResult
from components.detect_drift.signals import figures_of as drift_figures
from components.detect_drift.signals import record_of as drift_record
from components.evaluate_model.core import Check, Evaluation, Thresholds
from components.evaluate_model.signals import figures_of as evaluation_figures
from components.evaluate_model.signals import record_of as evaluation_record
from components.validate_data.core import Validation
from components.validate_data.signals import figures_of as validation_figures
from components.validate_data.signals import record_of as validation_record


def series_of(figures, name):
    return {tuple(s.labels.values()): s.value for s in figures.series if s.name == name}


# --- validation -------------------------------------------------------------------------------


def validation(failed_reasons=()):
    from components.validate_data.core import Check as Expectation

    failing = [Expectation(r, None, False, 1, (), None, None, None) for r in failed_reasons]
    passing = Expectation(
        "expect_table_row_count_to_be_between", None, True, None, (), 20, None, None
    )
    checks = (*failing, passing)
    failed = len(failed_reasons)
    return Validation(
        success=not failed, suite_name="s", suite_sha256="0" * 64, rows=20, columns=3,
        evaluated=failed + 1, failed=failed, success_percent=100.0 / (failed + 1),
        checks=checks, result={},
    )  # fmt: skip


def test_validation_figures_are_counts_and_a_success_ratio():
    figures = validation_figures(validation(["e1"]), "m", 0.25)
    assert (figures.gate, figures.model, figures.passed) == ("validation", "m", False)
    assert figures.metrics == {
        "expectations_evaluated": 2.0,
        "expectations_failed": 1.0,
        "success_ratio": 0.5,
        "rows": 20.0,
    }
    assert figures.thresholds == {} and figures.duration_seconds == 0.25


def test_validation_line_names_three_failed_expectations_then_counts_the_rest():
    record = validation_record(validation(["e1", "e2", "e3", "e4", "e5"]), "m", "training")
    assert record.line == (
        "1 of 6 expectations passed on 20 rows (suite s); failed: e1: 1 unexpected; "
        "e2: 1 unexpected; e3: 1 unexpected; and 2 more"
    )
    assert (record.gate, record.passed, record.pipeline) == ("validation", False, "training")
    line = validation_record(validation(), "m").line
    assert line == "1 of 1 expectations passed on 20 rows (suite s)"


# --- evaluation -------------------------------------------------------------------------------


def evaluation(delta=-0.02, passed=False):
    values = {"accuracy": 0.76, "f1": 0.8, "roc_auc": 0.78, "latency_p50_ms": 2.0,
              "latency_p95_ms": 4.0}  # fmt: skip
    checks = (
        Check("accuracy", 0.76, "min_accuracy", 0.7, True),
        Check("latency_p95_ms", 4.0, "max_latency_ms", 100.0, True),
    )
    reasons = ("accuracy 0.7600 meets min_accuracy 0.7", "roc_auc vs champion v3: regression")
    return Evaluation(
        passed=passed, reasons=reasons, primary_metric="roc_auc", values=values,
        checks=checks, first_run=False, champion_version=3, champion_value=0.78 - delta,
        delta=delta, categories=("0", "1"), confusion=((1, 0), (0, 1)), roc_class="1",
        roc=((0.0,), (1.0,), (0.5,)),
    )  # fmt: skip


def test_evaluation_figures_in_base_units_with_each_set_bound():
    figures = evaluation_figures(evaluation(), Thresholds(0.7, -1.0, 100.0, 0.015), "m", 1.5)
    assert figures.metrics["latency_p95_seconds"] == pytest.approx(0.004)
    assert figures.metrics["accuracy"] == 0.76 and figures.metrics["champion_version"] == 3.0
    assert figures.metrics["delta_roc_auc"] == pytest.approx(-0.02)
    assert figures.metrics["champion_roc_auc"] == pytest.approx(0.8)
    assert figures.thresholds == {
        "accuracy": (0.7, "min"),
        "latency_p95_seconds": (0.1, "max"),
        "delta_roc_auc": (-0.015, "min"),
    }
    assert "roc_auc" not in figures.thresholds  # min_roc_auc unset
    assert not any(name.endswith("_ms") for name in figures.metrics)


def test_evaluation_without_regression_bound_pushes_the_delta_but_no_bound():
    figures = evaluation_figures(evaluation(), Thresholds(0.7, -1.0, 100.0, -1.0), "m")
    assert "delta_roc_auc" in figures.metrics and "delta_roc_auc" not in figures.thresholds


def test_evaluation_record_is_its_reasons_in_one_line():
    record = evaluation_record(evaluation(), "m", "training")
    assert record.line == (
        "accuracy 0.7600 meets min_accuracy 0.7; roc_auc vs champion v3: regression"
    )


# --- fairness ---------------------------------------------------------------------------------


def fairness(groups=2, dp=0.05, eo=float("nan"), passed=True, reasons=()):
    rates = {f"g{i}": GroupRates(40, 0.5, 0.6, float("nan"), False) for i in range(groups)}
    feature = FeatureFairness("sex", dp, eo, 1, rates)
    return FairnessResult(passed, list(reasons), {"sex": feature}, [1], 0.1, None, 30)


def test_fairness_figures_bound_only_what_is_set_and_skip_nan():
    figures = fairness_figures(fairness(), "m")
    assert figures.thresholds == {"demographic_parity_difference": (0.1, "max")}
    assert figures.metrics == {"demographic_parity_difference": 0.05}  # EO is NaN: not pushed
    assert series_of(figures, "kfp_mlops_fairness_feature_disparity") == {
        ("sex", "demographic_parity_difference"): 0.05
    }
    rates = series_of(figures, "kfp_mlops_fairness_group_rate")
    assert rates[("sex", "g0", "selection_rate")] == 0.5
    assert ("sex", "g0", "fpr") not in rates and len(rates) == 4


def test_fairness_many_groups_push_no_group_series():
    figures = fairness_figures(fairness(groups=MAX_GROUPS_PUSHED + 1), "m")
    assert series_of(figures, "kfp_mlops_fairness_group_rate") == {}
    assert series_of(figures, "kfp_mlops_fairness_feature_disparity") != {}


def test_fairness_line_states_values_against_bounds_and_why_not_blessed():
    record = fairness_record(fairness(dp=0.2, passed=False, reasons=["'sex': 0.2 > 0.1"]), "m")
    assert record.line == (
        "demographic parity difference 0.2000 (sex) > 0.1; equalized odds difference: not "
        "measured; not blessed: 'sex': 0.2 > 0.1"
    )
    assert record.passed is False


# --- drift ------------------------------------------------------------------------------------


def column(name, status=TESTED, drifted=False, score=0.3, method="ks", threshold=0.05):
    return ColumnDrift(
        column=name, status=status, drifted=drifted, reference_null_share=0.0,
        current_null_share=0.0, reference_non_finite_share=0.0, current_non_finite_share=0.0,
        method=method, score=score, threshold=threshold,
    )  # fmt: skip


def drift(prediction=None):
    columns = (
        column("a", drifted=True, score=0.001),
        column("b", score=float("nan")),
        column("c", status=SCHEMA_CHANGE, drifted=True, score=None, method=SCHEMA_CHANGE,
               threshold=None),
        column("d", status=SKIPPED, score=None, method=None, threshold=None),
    )  # fmt: skip
    return DriftResult(columns, 2 / 3, 0.5, True, 100, 80, prediction=prediction)


def test_drift_figures_per_compared_column_with_column_and_method_labels():
    figures = drift_figures(drift(), "m", 2.0)
    assert figures.passed is False
    assert figures.thresholds == {"drift_share": (0.5, "max")}
    assert figures.metrics["columns_compared"] == 3.0
    assert figures.metrics["columns_skipped"] == 1.0
    assert series_of(figures, "kfp_mlops_drift_column_drifted") == {
        ("a", "ks"): 1.0,
        ("b", "ks"): 0.0,
        ("c", SCHEMA_CHANGE): 1.0,
    }
    assert series_of(figures, "kfp_mlops_drift_column_score") == {("a", "ks"): 0.001}
    assert series_of(figures, "kfp_mlops_drift_column_threshold") == {
        ("a", "ks"): 0.05,
        ("b", "ks"): 0.05,
    }
    assert "prediction_drifted" not in figures.metrics


def test_drift_prediction_figures_and_line():
    prediction = column("prediction", drifted=True, score=0.01, method="ks")
    figures = drift_figures(drift(prediction), "m")
    assert figures.metrics["prediction_drifted"] == 1.0
    assert figures.metrics["prediction_score"] == 0.01
    assert figures.metrics["prediction_threshold"] == 0.05
    line = drift_record(drift(prediction), "m").line
    assert line == (
        "2 of 3 columns drifted (share 0.67, dataset drift at ≥ 0.5): a, c; "
        "prediction drifted (ks 0.01, threshold 0.05)"
    )


def test_drift_line_cuts_a_long_list_of_drifted_columns():
    columns = tuple(column(f"c{i}", drifted=True, score=0.0) for i in range(13))
    record = drift_record(DriftResult(columns, 1.0, 0.5, True, 10, 10), "m")
    assert record.line.endswith(": c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 and 3 more")


# --- deploy -----------------------------------------------------------------------------------

LIMITS = CanaryLimits(max_error_rate=0.01, max_p95_latency_ms=100.0, min_requests=50, window_s=300)


def test_deploy_rolled_back_canary_pushes_its_numbers_against_bounds():
    verdict = Verdict(False, ["error rate 0.0200 > 0.0100"],
                      {"requests": 120.0, "error_rate": 0.02, "p95_latency_ms": 42.0})  # fmt: skip
    why = "canary v4 rolled back to v3: error rate 0.0200 > 0.0100"
    outcome = Outcome("m", True, False, 4, 3, True, [why], verdict)
    figures = deploy_figures(outcome, LIMITS, 30.0)
    assert (figures.gate, figures.model, figures.passed) == ("deploy", "m", False)
    assert figures.metrics["rolled_back"] == 1.0 and figures.metrics["promoted"] == 0.0
    assert figures.metrics["canary_p95_latency_seconds"] == pytest.approx(0.042)
    assert figures.thresholds == {
        "canary_requests": (50.0, "min"),
        "canary_error_rate": (0.01, "max"),
        "canary_p95_latency_seconds": (0.1, "max"),
    }
    assert deploy_record(outcome, LIMITS, "deploy").line == (
        "v4 rolled back to v3; canary 120 requests (min 50), error rate 0.0200 (max 0.01), "
        f"p95 42.0 ms (max 100); {why}"
    )


def test_deploy_without_canary_is_promoted_with_no_canary_figures():
    outcome = Outcome("m", True, True, 1, None, False, ["deployed with all traffic"])
    figures = deploy_figures(outcome, LIMITS)
    assert figures.passed is True and figures.thresholds == {}
    assert figures.metrics["rolled_back"] == 0.0 and figures.metrics["previous_version"] == 0.0
    line = deploy_record(outcome, LIMITS).line
    assert line == "v1 promoted to all traffic; deployed with all traffic"
    assert all(math.isfinite(v) for v in figures.metrics.values())
