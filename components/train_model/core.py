"""Train a scikit-learn classification Pipeline on a table and predict its held-out rows."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from components._shared.errors import ConfigError, DataError, one_of
from components._shared.splits import split_rows

# Output columns carry this prefix so they can never collide with a user's column.
COLUMN_PREFIX = "kfp_mlops:"
PREDICTION_COLUMN = f"{COLUMN_PREFIX}prediction"


@dataclass(frozen=True)
class EstimatorSpec:
    """How to build one registered estimator and what its inputs need."""

    build: Callable[[], ClassifierMixin]
    scale_numeric: bool  # linear models need standardised inputs; trees do not
    dense: bool  # HistGradientBoosting refuses sparse one-hot output


ESTIMATORS: dict[str, EstimatorSpec] = {
    "hist_gradient_boosting": EstimatorSpec(HistGradientBoostingClassifier, False, True),
    "random_forest": EstimatorSpec(RandomForestClassifier, False, False),
    # The default max_iter=100 often stops short of convergence on one-hot data.
    "logistic_regression": EstimatorSpec(lambda: LogisticRegression(max_iter=1000), True, False),
}


@dataclass(frozen=True)
class TrainResult:
    """A fitted Pipeline, its held-out rows with predictions, and the training numbers."""

    pipeline: Pipeline
    test_frame: pd.DataFrame  # test rows (features + target) + prediction + probabilities
    classes: tuple[Any, ...]  # JSON values, in the order of the probability columns
    feature_columns: tuple[str, ...]
    prediction_column: str
    proba_columns: dict[str, str]  # str(class) -> column
    metrics: dict[str, float]


def _proba_column(label: Any) -> str:
    """The name of the probability column of one class."""
    return f"{COLUMN_PREFIX}proba:{label}"


def _json_value(value: Any) -> Any:
    """A numpy/pandas scalar as the plain JSON value it stands for (ints stay ints)."""
    return value.item() if isinstance(value, np.generic) else value


def _integer_params(estimator: ClassifierMixin, hyperparameters: dict) -> dict:
    """Whole floats back to ints where the estimator accepts only integers.

    A KFP dict parameter travels as a protobuf Struct, which turns 200 into 200.0; sklearn
    then rejects `max_iter=200.0`. Parameters that also take a real (`max_features=1.0` is
    a fraction) keep their float.
    """
    from numbers import Integral

    from sklearn.utils._param_validation import Interval

    constraints = getattr(type(estimator), "_parameter_constraints", {})
    fixed = dict(hyperparameters)
    for key, value in hyperparameters.items():
        if isinstance(value, float) and value.is_integer():
            kinds = {c.type for c in constraints.get(key, []) if isinstance(c, Interval)}
            if kinds == {Integral}:
                fixed[key] = int(value)
    return fixed


def build_estimator(name: str, hyperparameters: dict, random_seed: int) -> ClassifierMixin:
    """Build a registered estimator with checked hyperparameters, without fitting anything."""
    if name not in ESTIMATORS:
        raise one_of("estimator", name, ESTIMATORS)
    estimator = ESTIMATORS[name].build()
    valid = estimator.get_params(deep=False)
    unknown = sorted(set(hyperparameters) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown hyperparameter(s) {unknown} for estimator {name!r}; "
            f"expected names from {sorted(valid)}"
        )
    if "random_state" in valid:
        estimator.set_params(random_state=random_seed)
    estimator.set_params(
        **_integer_params(estimator, hyperparameters)
    )  # an explicit random_state wins over the seed
    try:
        # sklearn checks values only inside fit(); its checker lets us fail before training.
        estimator._validate_params()
    except ValueError as exc:
        raise ConfigError(f"invalid hyperparameter for estimator {name!r}: {exc}") from exc
    return estimator


def _column_kinds(frame: pd.DataFrame, features: list[str]) -> tuple[list[str], list[str]]:
    numeric, categorical, unusable = [], [], []
    for column in features:
        dtype = frame[column].dtype
        if pd.api.types.is_bool_dtype(dtype):
            categorical.append(column)
        elif pd.api.types.is_numeric_dtype(dtype):
            numeric.append(column)
        elif pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
            categorical.append(column)
        else:
            unusable.append(f"{column} ({dtype})")
    if unusable:
        raise DataError(
            f"columns {unusable} are neither numeric nor text; drop or convert them before training"
        )
    return numeric, categorical


def _preprocessor(frame: pd.DataFrame, features: list[str], spec: EstimatorSpec):
    numeric, categorical = _column_kinds(frame, features)
    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    if spec.scale_numeric:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=not spec.dense)),
    ]
    return ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), numeric),
            ("categorical", Pipeline(categorical_steps), categorical),
        ],
        sparse_threshold=0.0 if spec.dense else 0.3,
    )


def _check_frame(frame: pd.DataFrame, target_column: str) -> None:
    if target_column not in frame.columns:
        raise DataError(
            f"target column {target_column!r} is not in the data; "
            f"available columns: {list(frame.columns)}"
        )
    reserved = [c for c in frame.columns if str(c).startswith(COLUMN_PREFIX)]
    if reserved:
        raise DataError(
            f"columns {reserved} use the prefix {COLUMN_PREFIX!r} reserved for outputs; rename them"
        )
    if len(frame.columns) < 2:
        raise DataError(f"the data has only the target column {target_column!r}; no features")
    missing = int(frame[target_column].isna().sum())
    if missing:
        raise DataError(
            f"target column {target_column!r} has {missing} missing values; drop or fill those rows"
        )
    _check_values(frame, target_column)


def _check_values(frame: pd.DataFrame, target_column: str) -> None:
    """Refuse what scikit-learn would refuse naming no column, or would drop without a word."""
    infinite = {
        str(c): int(np.isinf(frame[c].to_numpy(dtype=float, na_value=np.nan)).sum())
        for c in frame.columns
        if pd.api.types.is_float_dtype(frame[c].dtype)
    }
    infinite = {c: n for c, n in infinite.items() if n}
    if infinite:
        raise DataError(
            f"columns {list(infinite)} hold infinite values (rows per column: {infinite}); "
            "replace them with a finite value or an empty cell (imputed), or drop those rows"
        )
    # The imputer would drop these silently, and a model trained without them would ignore
    # the column at serving time too: one rule with the validation baseline, which refuses them.
    empty = [str(c) for c in frame.columns if c != target_column and frame[c].isna().all()]
    if empty:
        raise DataError(
            f"feature columns {empty} are entirely null; drop them from the data "
            "or fix their source"
        )


def _check_split(target: pd.Series, test_size: float) -> None:
    counts = target.value_counts()
    if len(counts) < 2:
        raise DataError(
            f"target column {target.name!r} has a single class {counts.index.tolist()}; "
            "a classifier needs at least two: add rows of the other classes or choose another "
            "target_column"
        )
    sparse = {_json_value(k): int(v) for k, v in counts.items() if v < 2}
    if sparse:
        raise DataError(
            f"classes {sparse} of {target.name!r} have fewer than 2 rows; a stratified split "
            "needs at least 2 rows per class: add rows or drop those classes"
        )
    n_test = math.ceil(test_size * len(target))
    if n_test < len(counts) or len(target) - n_test < len(counts):
        raise DataError(
            f"test_size={test_size} splits {len(target)} rows into {len(target) - n_test} train "
            f"and {n_test} test rows; each side needs at least one row per class "
            f"({len(counts)} classes): change test_size or add rows"
        )


def train(
    frame: pd.DataFrame,
    target_column: str,
    estimator: str,
    hyperparameters: dict,
    test_size: float,
    random_seed: int,
) -> TrainResult:
    """Split stratified, fit preprocessing + estimator, predict the held-out rows.

    Raises:
        DataError: the target is missing, has one class, or too few rows per class.
        ConfigError: unknown estimator, bad hyperparameters or test_size (before any training).
    """
    model = build_estimator(estimator, hyperparameters, random_seed)
    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"test_size must be between 0 and 1 (exclusive); got {test_size}")
    _check_frame(frame, target_column)
    _check_split(frame[target_column], test_size)
    features = [c for c in frame.columns if c != target_column]
    # The one split function: evaluate_model re-makes a champion's split with it.
    train_rows, test_rows = split_rows(frame, target_column, test_size, random_seed)
    pipeline = Pipeline(
        [("preprocess", _preprocessor(frame, features, ESTIMATORS[estimator])), ("model", model)]
    )
    pipeline.fit(train_rows[features], train_rows[target_column])
    classes = tuple(_json_value(c) for c in pipeline.classes_)
    test_frame = test_rows.reset_index(drop=True)
    test_frame[PREDICTION_COLUMN] = pipeline.predict(test_frame[features])
    proba = pipeline.predict_proba(test_frame[features])
    proba_columns = {str(c): _proba_column(c) for c in classes}
    for i, label in enumerate(classes):
        test_frame[proba_columns[str(label)]] = proba[:, i]
    metrics = {
        "train_rows": float(len(train_rows)),
        "test_rows": float(len(test_rows)),
        "features": float(len(features)),
        "classes": float(len(classes)),
        "train_accuracy": float(pipeline.score(train_rows[features], train_rows[target_column])),
        "test_accuracy": float((test_frame[PREDICTION_COLUMN] == test_frame[target_column]).mean()),
    }
    return TrainResult(
        pipeline=pipeline,
        test_frame=test_frame,
        classes=classes,
        feature_columns=tuple(features),
        prediction_column=PREDICTION_COLUMN,
        proba_columns=proba_columns,
        metrics=metrics,
    )
