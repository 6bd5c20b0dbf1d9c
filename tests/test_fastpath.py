"""The server's numpy preprocessing: used only where it gives the pipeline's own probabilities."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from components.train_model.core import ESTIMATORS, train
from kfp_mlops.serve.fastpath import compile_fast, probe_frame, verified
from kfp_mlops.serve.frame import Rows, checked_rows
from kfp_mlops.serve.model import ServedModel
from kfp_mlops.serve.schema import schema_from

DATA = Path(__file__).resolve().parent.parent / "data" / "german_credit.csv"


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    frame = pd.read_csv(DATA).head(400)
    # Missing values in both kinds of column, so the imputers' fill values matter.
    frame.loc[::7, "age"] = np.nan
    frame.loc[::11, frame.select_dtypes(exclude="number").columns[0]] = np.nan
    return frame


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def trained(request, credit):
    result = train(credit, "risk", request.param, {}, 0.25, 0)
    return request.param, result.pipeline


def served(model) -> ServedModel:
    return ServedModel("m", "m", 1, model, schema_from(model, None, "models:/m/1"))


def test_every_train_model_estimator_takes_the_verified_fast_path(trained, credit):
    estimator, model = trained
    chosen = served(model).with_fast_path()
    assert chosen.fast is not None, chosen.path
    assert chosen.path.startswith("fast preprocessing"), chosen.path
    features = credit.drop(columns=["risk"])
    # The training rows (nulls included) and rows with categories never seen in training.
    unseen = features.head(20).copy()
    for column in features.select_dtypes(exclude="number").columns:
        unseen[column] = "never-seen-" + column
    for rows in (features, unseen, features.head(1)):
        expected = model.predict_proba(rows)
        np.testing.assert_allclose(chosen.fast.predict_proba(rows), expected, rtol=0, atol=1e-12)
        assert chosen.predict(rows).labels == served(model).predict(rows).labels, estimator
    # As requests reach it: checked lists with None for missing, several requests joined.
    lists = {c: features[c].astype(object).where(features[c].notna(), None).tolist()
             for c in chosen.schema.names}  # fmt: skip
    halves = [{c: v[:150] for c, v in lists.items()}, {c: v[150:] for c, v in lists.items()}]
    joined = Rows.join([checked_rows(h, chosen.schema) for h in halves])
    assert len(joined) == len(features)
    expected = model.predict_proba(joined.frame())
    np.testing.assert_allclose(chosen.fast.predict_proba(joined), expected, rtol=0, atol=1e-12)


def test_probe_rows_cover_every_category_unknowns_and_missing(trained):
    _, model = trained
    fast = compile_fast(model)
    probe = probe_frame(fast, schema_from(model, None, "models:/m/1")).frame()
    for column in fast.categorical:
        seen = set(probe[column.name].dropna())
        assert set(column.index) <= seen
        assert seen - set(column.index), "an unknown category is probed"
        assert probe[column.name].isna().any()
    for column in fast.numeric:
        assert probe[column.name].isna().any()
        assert probe[column.name].nunique() > 3


def test_a_fast_path_that_disagrees_is_refused(credit):
    model = train(credit, "risk", "logistic_regression", {}, 0.25, 0).pipeline
    fast = compile_fast(model)
    numeric = fast.numeric[0]
    shifted = replace(numeric, fill=numeric.fill + 1.0)
    wrong = replace(fast, numeric=(shifted, *fast.numeric[1:]))
    probe = probe_frame(fast, schema_from(model, None, "models:/m/1"))
    assert verified(fast, model, probe) == ""
    assert "probabilities differ" in verified(wrong, model, probe)


def _other_shape(credit, encoder: OneHotEncoder) -> Pipeline:
    features = credit.drop(columns=["risk"])
    text = list(features.select_dtypes(exclude="number").columns)
    numbers = [c for c in features.columns if c not in text]
    pre = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median"))]), numbers),
            (
                "categorical",
                Pipeline(
                    [("impute", SimpleImputer(strategy="most_frequent")), ("encode", encoder)]
                ),
                text,
            ),
        ]
    )
    return Pipeline(
        [("preprocess", pre), ("model", RandomForestClassifier(n_estimators=10, random_state=0))]
    ).fit(features, credit["risk"])


@pytest.mark.parametrize(
    "encoder",
    [
        OneHotEncoder(handle_unknown="ignore", drop="if_binary", sparse_output=False),
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5),
    ],
    ids=["drop-if-binary", "infrequent-categories"],
)
def test_other_encoder_options_are_served_through_the_pipeline(credit, encoder):
    model = _other_shape(credit, encoder)
    assert compile_fast(model) is None
    chosen = served(model).with_fast_path()
    assert chosen.fast is None
    assert chosen.path.startswith("pipeline (not train_model's preprocessing shape")
    rows = credit.drop(columns=["risk"]).head(5)
    expected = model.predict_proba(rows).round(6).tolist()
    assert chosen.predict(rows).probabilities == expected


def test_a_bare_estimator_has_no_fast_path(credit):
    numbers = credit.select_dtypes("number").drop(columns=["risk"], errors="ignore")
    model = LogisticRegression(max_iter=500).fit(numbers.fillna(0), credit["risk"])
    assert compile_fast(model) is None
