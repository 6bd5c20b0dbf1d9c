"""The champion comparison on rows neither model trained on (issue 20, part 6).

A champion trained on one split of German credit and a challenger on another (seeds 42 and
7): the champion is scored only on the challenger's test rows that were not in its own
training rows, found by re-splitting its training data and matching row hashes.
"""

import hashlib
import io
import json
import shutil
import uuid

import numpy as np
import pandas as pd
import pytest

from components._shared.datasets import refs, store
from components._shared.io.s3 import parse_s3_uri, s3_client
from components._shared.registry.champion import Champion
from components._shared.rowhash import row_hashes
from components._shared.splits import split_rows
from components.evaluate_model.core import PredictionColumns, Thresholds, evaluate
from components.evaluate_model.report import render_markdown
from components.evaluate_model.scoring import METRICS, Scores
from components.evaluate_model.trained_on import training_rows
from components.register_model.card import render_card
from components.register_model.promotion import decide_promotion
from components.train_model.core import train
from tests.conftest import GERMAN_CREDIT
from tests.test_reports_escape import card_lineage

TARGET = "risk"
GATE = Thresholds(min_accuracy=0.5, max_regression=0.015)


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT)


def tags_of(path, test_size=0.25, seed=42, **extra) -> dict[str, str]:
    """The lineage tags register_model gives a model trained on the file at `path`.

    As a pipeline run records them: KFP hands the parameters over as text, ints as floats.
    """
    parameters = {"target_column": TARGET, "test_size": str(test_size), "random_seed": f"{seed}.0"}
    return {
        "dataset_uri": str(path),
        "dataset_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "parameters": json.dumps(parameters),
        **extra,
    }


@pytest.fixture(scope="module")
def champion_model(credit):
    """The champion of the issue's scenario: German credit split with seed 42 (fitted once)."""
    return train(credit, TARGET, "hist_gradient_boosting", {}, 0.25, 42).pipeline


@pytest.fixture
def champion_of(champion_model):
    """Champion v1 with the given lineage tags (they, not the model, say what it trained on)."""
    return lambda tags: Champion(1, champion_model, sha256="0" * 64, tags=tags)


@pytest.fixture(scope="module")
def challenger(credit):
    """The challenger of the issue's scenario: the same data, split with seed 7."""
    fitted = train(credit, TARGET, "hist_gradient_boosting", {}, 0.25, 7)
    columns = PredictionColumns(
        TARGET, fitted.feature_columns, fitted.prediction_column, fitted.proba_columns
    )
    return fitted.test_frame, columns, fitted.pipeline


def judge(challenger, champion, **kwargs):
    frame, columns, model = challenger
    return evaluate(
        frame, columns, model, "roc_auc", GATE, lambda: champion, training_rows, **kwargs
    )


def test_champion_is_compared_only_on_rows_it_did_not_train_on(credit, challenger, champion_of):
    champion = champion_of(tags_of(GERMAN_CREDIT))
    result = judge(challenger, champion)

    # The champion's training rows, by position in the file (no hashing involved).
    champion_train, _ = split_rows(credit, TARGET, 0.25, 42)
    _, challenger_test = split_rows(credit, TARGET, 0.25, 7)
    seen = challenger_test.index.isin(champion_train.index)
    comparison = result.comparison
    assert comparison.outcome == "compared"
    assert (comparison.test_rows, comparison.seen_rows) == (250, int(seen.sum()))
    assert comparison.compared_rows == 250 - int(seen.sum()) > 30
    assert comparison.rows_source == str(GERMAN_CREDIT)

    # The champion is scored on exactly the unseen rows, none of its training rows.
    frame, columns, _ = challenger
    unseen = frame[~seen].reset_index(drop=True)
    features = unseen[list(columns.feature_columns)]
    expected = METRICS["roc_auc"](
        Scores(
            unseen[TARGET].to_numpy(),
            champion.model.predict(features),
            champion.model.predict_proba(features),
            tuple(champion.model.classes_),
        )
    )
    assert result.champion_value == pytest.approx(expected)
    assert set(row_hashes(unseen, [*columns.feature_columns, TARGET])).isdisjoint(
        row_hashes(champion_train, list(credit.columns))
    )
    line = f"compared on {comparison.compared_rows} of 250 test rows: {int(seen.sum())} were in "
    assert any(r.startswith(line + "champion v1's training set") for r in result.reasons)
    assert result.report_metadata()["compared_rows"] == comparison.compared_rows
    assert result.metrics()["compared_rows"] == comparison.compared_rows
    assert result.metrics()["compared_roc_auc"] == comparison.challenger_value
    text = render_markdown(result)
    assert f"Rows: {line}" in text and "| champion v1 |" in text


def test_the_champion_looks_better_on_its_own_training_rows(credit, challenger, champion_of):
    """Why the rows are left out: on the whole split the champion scores what it memorised."""
    champion = champion_of(tags_of(GERMAN_CREDIT))
    frame, columns, _ = challenger
    fair = judge(challenger, champion).champion_value
    features = frame[list(columns.feature_columns)]
    everything = METRICS["roc_auc"](
        Scores(
            frame[TARGET].to_numpy(),
            champion.model.predict(features),
            champion.model.predict_proba(features),
            tuple(champion.model.classes_),
        )
    )
    assert everything > fair


def test_row_hash_is_the_same_from_csv_and_from_a_parquet_snapshot(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("age,amount,job,ok\n31,1200.5,a,True\n,300,b,False\n45,7.25,a,True\n")
    from_csv = pd.read_csv(csv)  # age: float64 (a null), amount: float64, job: str, ok: bool
    parquet = tmp_path / "rows.parquet"
    pd.DataFrame(
        {
            "ok": pd.array([True, False, True], dtype="boolean"),
            "job": pd.Categorical(["a", "b", "a"]),
            "amount": pd.array([1200.5, 300.0, 7.25], dtype="Float64"),
            "age": pd.array([31, None, 45], dtype="Int64"),
        }
    ).to_parquet(parquet)
    from_parquet = pd.read_parquet(parquet)  # other dtypes, other column order
    assert from_csv["age"].dtype != from_parquet["age"].dtype
    assert from_csv["job"].dtype != from_parquet["job"].dtype

    columns = ["age", "amount", "job", "ok"]
    assert row_hashes(from_csv, columns).tolist() == row_hashes(from_parquet, columns).tolist()
    changed = from_parquet.assign(amount=[1200.5, 300.0, 7.5])
    assert row_hashes(changed, columns).tolist()[2] != row_hashes(from_csv, columns).tolist()[2]
    # A null is not a value: age missing is not age 0, and text "31" is not the number 31.
    assert len(set(row_hashes(pd.DataFrame({"a": [np.nan, 0, "31", 31]}), ["a"]))) == 4


def test_the_champions_split_found_from_a_parquet_version_of_its_csv(credit, tmp_path):
    """The champion's rows re-read from Parquet match the challenger's read from CSV."""
    parquet = tmp_path / "credit.parquet"
    credit.astype({"age": "float64", "housing": "category"}).to_parquet(parquet)
    champion = Champion(1, None, tags=tags_of(parquet))
    rows = training_rows(champion, TARGET)
    assert rows.frame["age"].dtype == "float64"
    expected, _ = split_rows(credit, TARGET, 0.25, 42)
    columns = list(credit.columns)
    assert row_hashes(rows.frame, columns).tolist() == row_hashes(expected, columns).tolist()


def test_too_few_unseen_rows_cannot_judge(credit, challenger, champion_of):
    # A champion that trained on 95 % of the data leaves about 12 of the 250 rows unseen.
    champion = champion_of(tags_of(GERMAN_CREDIT, test_size=0.05))
    weak = evaluate(*challenger, "roc_auc", Thresholds(min_accuracy=0.99), lambda: champion)
    result = judge(challenger, champion)

    assert result.comparison.outcome == "cannot_judge" and result.delta is None
    assert result.comparison.compared_rows < 30
    reason = next(r for r in result.reasons if r.startswith("champion v1"))
    assert "cannot be compared fairly: only" in reason and "fewer than the 30 needed" in reason
    assert reason.endswith("judged on thresholds only")
    assert result.passed  # thresholds decide, as for a champion that cannot score
    assert result.report_metadata()["comparison"] == "cannot_judge"
    assert "champion_roc_auc" not in result.metrics()
    assert "cannot be compared" in render_markdown(result)
    assert not weak.passed  # a threshold still rejects


def test_champion_training_data_changed_is_said(credit, challenger, champion_of, tmp_path):
    copy = tmp_path / "german_credit.csv"
    shutil.copy(GERMAN_CREDIT, copy)
    champion = champion_of(tags_of(copy))
    copy.write_bytes(copy.read_bytes() + b"0,male,2,own,little,little,1000,12,car,30\n")
    result = judge(challenger, champion)

    assert result.comparison.outcome == "cannot_judge"
    reason = next(r for r in result.reasons if r.startswith("champion v1"))
    assert f"its training data {copy} changed after it was trained" in reason
    assert hashlib.sha256(copy.read_bytes()).hexdigest() in reason


@pytest.mark.parametrize(
    ("parameters", "said"),
    [
        ({"target_column": TARGET, "test_size": 0.25}, "lacks ['random_seed']"),
        ({"random_seed": 42}, "lacks ['test_size']"),
        ([0.25, 42], "not a JSON object of parameters"),
        ({"test_size": 0.25, "random_seed": [42]}, "training split cannot be re-made"),
    ],
)
def test_champion_parameters_without_its_split_cannot_judge(
    credit, challenger, champion_of, parameters, said
):
    tags = tags_of(GERMAN_CREDIT) | {"parameters": json.dumps(parameters)}
    result = judge(challenger, champion_of(tags))
    assert result.comparison.outcome == "cannot_judge"
    assert any(said in r and "judged on thresholds only" in r for r in result.reasons)


def test_champion_without_lineage_tags_cannot_judge(credit, challenger, champion_of):
    result = judge(challenger, champion_of({}))
    assert result.comparison.outcome == "cannot_judge"
    assert any("lacks ['test_size', 'random_seed']" in r for r in result.reasons)


def test_champion_dataset_version_read_verified_and_tampering_said(
    stack, monkeypatch, credit, challenger, champion_of
):
    monkeypatch.setenv(refs.ROOT_ENV, f"s3://kfp-mlops-data/datasets-{uuid.uuid4().hex[:8]}/")
    found, _ = store.add(str(GERMAN_CREDIT), "credit-fair")
    reference = f"dataset://credit-fair@sha256:{found['sha256']}"
    # The version tag wins over a dataset_uri that no longer exists.
    tags = {"dataset_version": reference, "dataset_uri": "/nowhere/else.csv"}
    tags |= {"parameters": tags_of(GERMAN_CREDIT)["parameters"]}
    champion = champion_of(tags)
    result = judge(challenger, champion)
    assert result.comparison.outcome == "compared"
    assert result.comparison.rows_source == reference

    bucket, key = parse_s3_uri(found["object"])
    tampered = GERMAN_CREDIT.read_bytes().replace(b"male", b"mala", 1)
    s3_client().put_object(bucket, key, io.BytesIO(tampered), len(tampered))
    result = judge(challenger, champion)
    assert result.comparison.outcome == "cannot_judge"
    reason = next(r for r in result.reasons if r.startswith("champion v1"))
    assert "no longer match their hash" in reason and reference in reason


def test_model_card_says_which_rows_were_compared(challenger, champion_of):
    result = judge(challenger, champion_of(tags_of(GERMAN_CREDIT)))
    lineage = card_lineage()
    lineage["evaluation"] = result.report_metadata()
    lineage["evaluation"]["champion_version"] = 1
    text = render_card(lineage, {})

    comparison = result.comparison
    assert (
        f"Champion v1 scored {comparison.champion_value:.4f}, this model "
        f"{comparison.challenger_value:.4f} (delta {result.delta:.4f}), compared on "
        f"{comparison.compared_rows} of 250 test rows: {comparison.seen_rows} were in champion "
        "v1's training set"
    ) in text
    assert f"| compared_rows | {comparison.compared_rows} |" in text


def test_promotion_compares_the_scores_on_the_same_rows():
    # On the whole split the challenger beats the champion's score on the compared rows;
    # on those same rows it does not: not promoted.
    evaluation = {
        "champion_version": 1,
        "primary_metric": "roc_auc",
        "primary_value": 0.80,
        "compared_value": 0.70,
        "champion_value": 0.74,
    }
    promoted, why = decide_promotion(
        promote=True, version=2, current_champion=1, evaluation=evaluation
    )
    assert not promoted and "roc_auc 0.7000 < champion v1's 0.7400" in why
    promoted, _ = decide_promotion(
        promote=True,
        version=2,
        current_champion=1,
        evaluation=evaluation | {"compared_value": 0.75},
    )
    assert promoted
