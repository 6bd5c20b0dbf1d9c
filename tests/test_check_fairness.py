"""The fairness gate: known answers on hand-built frames, fail-closed rules, German credit."""

import pandas as pd
import pytest
from kfp import dsl

from components._shared.errors import ConfigError, DataError
from components._shared.io import write_parquet
from components.check_fairness import component
from components.check_fairness.core import check_fairness
from components.check_fairness.report import metadata_of, metrics_of, render_report
from tests.conftest import GERMAN_CREDIT


def binary_frame() -> pd.DataFrame:
    """Group a: selection 3/4, TPR 2/2, FPR 1/2; group b: selection 1/4, TPR 0/2, FPR 1/2."""
    return pd.DataFrame(
        {
            "sex": ["a"] * 4 + ["b"] * 4,
            "y": [1, 1, 0, 0, 1, 1, 0, 0],
            "pred": [1, 1, 1, 0, 0, 0, 1, 0],
        }
    )


def assess(frame, **kwargs):
    options = {
        "target_column": "y",
        "prediction_column": "pred",
        "classes": [0, 1],
        "sensitive_features": ["sex"],
        # The training pipeline's defaults (the core takes every bound explicitly).
        "max_demographic_parity_difference": 0.1,
        "max_equalized_odds_difference": -1.0,
        "positive_label": "",
    }
    return check_fairness(frame, **(options | kwargs))


def test_check_fairness_demographic_parity_matches_hand_computation():
    result = assess(binary_frame(), max_demographic_parity_difference=0.6)
    sex = result.features["sex"]
    assert sex.demographic_parity_difference == pytest.approx(0.75 - 0.25)
    assert sex.groups["a"].selection_rate == pytest.approx(0.75)
    assert sex.groups["b"].selection_rate == pytest.approx(0.25)
    assert sex.groups["a"].count == 4
    assert result.passed


def test_check_fairness_equalized_odds_is_the_worse_of_tpr_and_fpr_gaps():
    sex = assess(binary_frame()).features["sex"]
    assert (sex.groups["a"].tpr, sex.groups["b"].tpr) == (1.0, 0.0)
    assert (sex.groups["a"].fpr, sex.groups["b"].fpr) == (0.5, 0.5)
    assert sex.equalized_odds_difference == pytest.approx(1.0)


def test_check_fairness_disparity_above_bound_not_blessed():
    result = assess(binary_frame(), max_demographic_parity_difference=0.1)
    assert not result.passed
    assert result.reasons == ["demographic parity difference by 'sex' is 0.5000 > 0.1"]


def test_check_fairness_equalized_odds_bound_alone_decides():
    result = assess(
        binary_frame(), max_demographic_parity_difference=-1, max_equalized_odds_difference=0.9
    )
    assert not result.passed
    assert result.reasons == ["equalized odds difference by 'sex' is 1.0000 > 0.9"]


def test_check_fairness_bound_equal_to_value_passes():
    assert assess(binary_frame(), max_demographic_parity_difference=0.5).passed


def test_check_fairness_positive_label_selects_the_class():
    # For class 0 the selection rates are 1/4 (a) and 3/4 (b); TPR(0) 1/2 vs 1/2, FPR(0) 0 vs 1.
    sex = assess(binary_frame(), positive_label="0").features["sex"]
    assert sex.reported_class == 0
    assert sex.groups["b"].selection_rate == pytest.approx(0.75)
    assert sex.equalized_odds_difference == pytest.approx(1.0)


def test_check_fairness_unknown_positive_label_lists_classes():
    with pytest.raises(
        ConfigError, match=r"unknown positive_label 'yes'; expected one of \['0', '1'\]"
    ):
        assess(binary_frame(), positive_label="yes")


def test_check_fairness_float_classes_from_metadata_match_int_data():
    # Ints in KFP metadata come back as floats.
    result = assess(binary_frame(), classes=[0.0, 1.0], max_demographic_parity_difference=0.6)
    assert result.positive_classes == [1]
    assert result.features["sex"].demographic_parity_difference == pytest.approx(0.5)


def test_check_fairness_multiclass_takes_the_worst_class_one_vs_rest():
    frame = pd.DataFrame(
        {
            "sex": ["m"] * 4 + ["f"] * 4,
            "y": ["a", "b", "c", "c"] * 2,
            "pred": ["a", "b", "c", "c", "a", "b", "a", "a"],
        }
    )
    sex = assess(frame, classes=["a", "b", "c"]).features["sex"]
    # a: selection 1/4 vs 3/4, FPR 0 vs 2/3; b: no gap; c: selection 1/2 vs 0, TPR 1 vs 0.
    assert sex.per_class["a"]["demographic_parity_difference"] == pytest.approx(0.5)
    assert sex.per_class["a"]["equalized_odds_difference"] == pytest.approx(2 / 3)
    assert sex.per_class["b"] == {
        "demographic_parity_difference": 0.0,
        "equalized_odds_difference": 0.0,
    }
    assert sex.per_class["c"]["equalized_odds_difference"] == pytest.approx(1.0)
    assert sex.demographic_parity_difference == pytest.approx(0.5)
    assert sex.equalized_odds_difference == pytest.approx(1.0)
    assert sex.reported_class == "c"
    assert sex.groups["f"].tpr == 0.0


def test_check_fairness_numeric_feature_split_into_quartile_bins():
    frame = pd.DataFrame({"age": range(1, 21), "y": [0, 1] * 10, "pred": [1] * 10 + [0] * 10})
    age = assess(frame, sensitive_features=["age"]).features["age"]
    assert age.bins == ["[1, 5.75]", "(5.75, 10.5]", "(10.5, 15.25]", "(15.25, 20]"]
    assert [g.count for g in age.groups.values()] == [5, 5, 5, 5]
    assert age.groups["[1, 5.75]"].selection_rate == 1.0
    assert age.groups["(10.5, 15.25]"].selection_rate == 0.0
    assert age.demographic_parity_difference == pytest.approx(1.0)


def test_check_fairness_few_distinct_numbers_stay_groups():
    frame = pd.DataFrame({"job": [0, 1, 2, 3] * 3, "y": [1, 0] * 6, "pred": [1] * 12})
    job = assess(frame, sensitive_features=["job"]).features["job"]
    assert job.bins is None
    assert list(job.groups) == ["0", "1", "2", "3"]


def test_check_fairness_text_feature_of_more_groups_than_the_bound_fails_closed_naming_it():
    frame = pd.DataFrame({"client": [f"c{i}" for i in range(21)] * 2, "y": [0, 1] * 21})
    result = assess(frame.assign(pred=frame["y"]), sensitive_features=["client"])
    assert not result.passed
    assert result.reasons == [
        "sensitive feature 'client' has 21 groups, more than 20 (an identifier or free text, "
        "not a group): no disparity judged (fail closed); map its values to fewer groups, or "
        "choose another feature"
    ]
    twenty = frame[frame["client"] != "c20"]
    assert assess(twenty.assign(pred=twenty["y"]), sensitive_features=["client"]).passed


def test_check_fairness_small_groups_flagged_and_still_counted():
    frame = binary_frame().assign(sex=["a"] * 6 + ["b"] * 2)
    sex = assess(frame, min_group_size=3).features["sex"]
    assert (sex.groups["a"].small, sex.groups["b"].small) == (False, True)
    assert sex.groups["b"].count == 2
    assert "fewer than 3 rows" in render_report(assess(frame, min_group_size=3))


def test_check_fairness_missing_feature_names_it_and_lists_columns():
    with pytest.raises(
        DataError,
        match=r"sensitive feature \['race'\] not in the predictions; "
        r"available columns: \['sex', 'y', 'pred'\]",
    ):
        assess(binary_frame(), sensitive_features=["sex", "race"])


def test_check_fairness_no_sensitive_features_not_blessed():
    result = assess(binary_frame(), sensitive_features=[])
    assert not result.passed
    assert result.reasons == ["no sensitive features given: cannot assess fairness (fail closed)"]
    assert metrics_of(result) == {"blessed": 0.0}


def test_check_fairness_no_thresholds_not_blessed():
    perfect = binary_frame().assign(pred=lambda f: f["y"])
    result = assess(
        perfect, max_demographic_parity_difference=-1.0, max_equalized_odds_difference=-1.0
    )
    assert result.features["sex"].demographic_parity_difference == 0.0
    assert not result.passed
    assert "no fairness threshold set" in result.reasons[0]


def test_check_fairness_report_metadata_and_metrics():
    result = assess(binary_frame(), sensitive_features=["sex"])
    meta = metadata_of(result)
    assert meta["passed"] is False
    assert meta["per_feature"]["sex"]["groups"]["b"] == {
        "count": 4,
        "selection_rate": 0.25,
        "tpr": 0.0,
        "fpr": 0.5,
        "small": True,
    }
    assert metrics_of(result) == {
        "demographic_parity_difference_sex": 0.5,
        "equalized_odds_difference_sex": 1.0,
        "demographic_parity_difference": 0.5,
        "equalized_odds_difference": 1.0,
        "blessed": 0.0,
    }
    text = render_report(result)
    assert text.startswith("# Fairness gate: REJECTED")
    assert "| b | 4 | 0.2500 | 0.0000 | 0.5000 | small |" in text


def german_credit_predictions(tmp_path) -> dsl.Dataset:
    """Held-out German credit rows scored by a small gradient-boosting model, like train_model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    data = pd.read_csv(GERMAN_CREDIT)
    features = [c for c in data.columns if c != "risk"]
    text = [c for c in features if pd.api.types.is_string_dtype(data[c])]
    train, test = train_test_split(data, test_size=0.25, random_state=0, stratify=data["risk"])
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("text", OneHotEncoder(handle_unknown="ignore"), text)],
                    remainder="passthrough",
                ),
            ),
            ("clf", HistGradientBoostingClassifier(max_iter=50, random_state=0)),
        ]
    ).fit(train[features], train["risk"])
    proba = model.predict_proba(test[features])
    scored = test.assign(
        prediction=model.predict(test[features]), proba_0=proba[:, 0], proba_1=proba[:, 1]
    )
    dataset = dsl.Dataset(uri=str(tmp_path / "predictions.parquet"))
    write_parquet(scored, dataset.path)
    dataset.metadata.update(
        target_column="risk",
        feature_columns=features,
        prediction_column="prediction",
        proba_columns={"0": "proba_0", "1": "proba_1"},
        classes=[0, 1],
        rows=len(scored),
    )
    return dataset


def test_check_fairness_component_on_german_credit(tmp_path):
    from fairlearn.metrics import demographic_parity_difference

    predictions = german_credit_predictions(tmp_path)
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    report = dsl.Markdown(uri=str(tmp_path / "report.md"))
    blessed = component.check_fairness.python_func(
        predictions=predictions,
        sensitive_features=["sex", "age"],
        metrics=metrics,
        report=report,
        max_demographic_parity_difference=0.1,
        max_equalized_odds_difference=-1.0,
        positive_label="",
        model_name="credit",
        kfp_run_id="",
    )
    scored = pd.read_parquet(predictions.path)
    expected_sex = demographic_parity_difference(
        scored["risk"], scored["prediction"], sensitive_features=scored["sex"]
    )
    meta = report.metadata
    assert meta["per_feature"]["sex"]["demographic_parity_difference"] == pytest.approx(
        expected_sex
    )
    assert metrics.metadata["demographic_parity_difference_sex"] == pytest.approx(expected_sex)
    assert set(meta["per_feature"]["sex"]["groups"]) == {"female", "male"}
    assert len(meta["per_feature"]["age"]["bins"]) == 4
    assert sum(g["count"] for g in meta["per_feature"]["age"]["groups"].values()) == len(scored)
    worst = max(meta["per_feature"][f]["demographic_parity_difference"] for f in ("sex", "age"))
    assert blessed is meta["passed"] is (worst <= 0.1)
    assert metrics.metadata["blessed"] == float(blessed)
    text = (tmp_path / "report.md").read_text()
    assert "| female |" in text and "quartile bins" in text


def test_check_fairness_component_missing_feature_raises(tmp_path):
    predictions = dsl.Dataset(uri=str(tmp_path / "predictions.parquet"))
    write_parquet(binary_frame(), predictions.path)
    predictions.metadata.update(target_column="y", prediction_column="pred", classes=[0, 1])
    with pytest.raises(DataError, match="sensitive feature \\['age'\\] not in the predictions"):
        component.check_fairness.python_func(
            predictions=predictions,
            sensitive_features=["age"],
            metrics=dsl.Metrics(uri=str(tmp_path / "m")),
            report=dsl.Markdown(uri=str(tmp_path / "r")),
            max_demographic_parity_difference=0.1,
            max_equalized_odds_difference=-1.0,
            positive_label="",
            model_name="credit",
            kfp_run_id="",
        )


def test_check_fairness_a_disparity_fairlearn_cannot_compute_is_not_read_as_fair():
    from components.check_fairness.measurable import feature_problems

    assert feature_problems("sex", ["a", "b"], 0.1, 0.2) == []
    (reason,) = feature_problems("sex", ["a", "b"], float("nan"), 0.2)
    assert "'sex' gave a disparity that could not be computed (NaN)" in reason
    assert "(fail closed)" in reason


def test_check_fairness_missing_group_does_not_count_as_a_second_group():
    frame = binary_frame().assign(sex=["a"] * 4 + [None] * 4)
    result = assess(frame, max_demographic_parity_difference=1.0)
    assert set(result.features["sex"].groups) == {"a", "(missing)"}
    assert not result.passed
    assert result.reasons[0].startswith("sensitive feature 'sex' has the single group ['a']")


@pytest.mark.parametrize("bound", [float("nan"), float("inf")])
def test_check_fairness_nan_or_infinite_bound_is_refused_not_read_as_unset(bound):
    with pytest.raises(ConfigError, match=r"max_equalized_odds_difference is (nan|inf); set a"):
        assess(binary_frame(), max_equalized_odds_difference=bound)


def test_check_fairness_an_identifier_feature_is_not_judged_and_gets_no_rates():
    rows = 4_000
    frame = pd.DataFrame(
        {
            "client": [f"c{i}" for i in range(rows)],  # one group per row
            "sex": ["a", "a", "b", "b"] * (rows // 4),
            "y": [0, 1] * (rows // 2),
        }
    )
    result = assess(frame.assign(pred=frame["y"]), sensitive_features=["client", "sex"])
    client = result.features["client"]
    assert not result.passed and not client.judged
    assert client.groups == {} and client.n_groups == rows
    assert result.reasons == [client.not_judged]
    assert f"has {rows} groups, more than 20" in client.not_judged
    # Only judged features count toward the worst disparity, the metrics and the report.
    assert (
        result.demographic_parity_difference == result.features["sex"].demographic_parity_difference
    )
    assert not any("client" in name for name in metrics_of(result))
    report = render_report(result)
    assert f"not judged: {rows} groups" in report and "| c17 |" not in report
