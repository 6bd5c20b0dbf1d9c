"""A faster way through train_model's preprocessing for the few rows a request holds.

A fitted `ColumnTransformer` spends about 2.5 ms on one row (pandas indexing, per-step input
validation), most of a single-row prediction. Its fitted state is small and plain: per
numeric column a fill value (median) and maybe a mean and scale; per categorical column a
fill value and its categories, one-hot. `FastPreprocess` reads that state once and builds the
same matrix with numpy, then calls the fitted final estimator.

It is used only when it is provably the same: `compile_fast` accepts exactly the pipeline
shape train_model builds (exact classes, default options the arithmetic relies on) and
returns None for anything else; the server then compares both paths on probe rows at load and
keeps the fast one only if every probability agrees to 1e-12 (`verified`), else it serves
through the pipeline and says why. Nothing is trained, loaded or evaluated here: the numbers
come from the already-loaded, sha-checked model.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Agreement asked of the two paths on probe rows: the same float operations in another order
# can differ in the last bits, never more.
TOLERANCE = 1e-12


@dataclass(frozen=True)
class NumericColumn:
    """A numeric column: fill NaN with `fill`, then (x - mean) / scale when scaled."""

    name: str
    fill: float
    mean: float | None
    scale: float | None


@dataclass(frozen=True)
class CategoricalColumn:
    """A categorical column: fill missing with `fill`, then one-hot over `index` (unknown: 0s)."""

    name: str
    fill: object
    index: dict
    width: int


@dataclass(frozen=True)
class FastPreprocess:
    """train_model's fitted preprocessing as plain arrays, and the estimator after it."""

    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]
    estimator: object

    @property
    def width(self) -> int:
        """Columns of the transformed matrix."""
        return len(self.numeric) + sum(c.width for c in self.categorical)

    def transform(self, rows) -> np.ndarray:
        """The matrix the ColumnTransformer would produce, dense, float64.

        Args:
            rows: Checked request rows (frame.Rows: lists, None for missing) or a DataFrame
                of the same columns.
        """
        out = np.zeros((len(rows), self.width), dtype=np.float64)
        for j, column in enumerate(self.numeric):
            values = _floats(rows[column.name])
            values = np.where(np.isnan(values), column.fill, values)
            if column.scale is not None:
                values = (values - column.mean) / column.scale
            out[:, j] = values
        start = len(self.numeric)
        for column in self.categorical:
            cells = rows[column.name]
            for i, value in enumerate(cells.tolist() if isinstance(cells, pd.Series) else cells):
                if value is None or value is pd.NA or (isinstance(value, float) and value != value):
                    value = column.fill
                position = column.index.get(value)
                if position is not None:
                    out[i, start + position] = 1.0
            start += column.width
        return out

    def predict_proba(self, rows) -> np.ndarray:
        """Class probabilities, as the pipeline's predict_proba."""
        return self.estimator.predict_proba(self.transform(rows))


def _floats(cells) -> np.ndarray:
    if isinstance(cells, pd.Series):
        return cells.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.array(cells, dtype=np.float64)  # None becomes NaN


def compile_fast(model) -> FastPreprocess | None:
    """The fast path for a train_model pipeline, or None when the model is any other shape."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if type(model) is not Pipeline or len(model.steps) != 2:
        return None
    preprocess, estimator = model.steps[0][1], model.steps[1][1]
    if type(preprocess) is not ColumnTransformer or not hasattr(estimator, "predict_proba"):
        return None
    if preprocess.remainder != "drop" or preprocess.transformer_weights is not None:
        return None
    fitted = [t for t in preprocess.transformers_ if t[0] != "remainder"]
    if [name for name, _, _ in fitted] != ["numeric", "categorical"]:
        return None
    (_, numeric, numeric_cols), (_, categorical, categorical_cols) = fitted
    parts = _numeric(numeric, numeric_cols), _categorical(categorical, categorical_cols)
    if parts[0] is None or parts[1] is None:
        return None
    return FastPreprocess(parts[0], parts[1], estimator)


def probe_frame(fast: FastPreprocess, schema, rows: int = 64):
    """Rows that exercise every part of the fast path, typed as a request's frame would be.

    Each category of each column appears, and an unknown one, and missing values; numeric
    columns get their fill value, values spread around it (by the scaler's scale when there
    is one), zero, and missing. Deterministic (a fixed seed).
    """
    from kfp_mlops.serve.frame import checked_rows

    rng = np.random.default_rng(0)
    widest = max([c.width + 2 for c in fast.categorical] + [rows])
    numeric = {c.name: c for c in fast.numeric}
    categorical = {c.name: c for c in fast.categorical}
    columns: dict[str, list] = {}
    for column in schema.columns:
        if column.name in categorical:
            known = list(categorical[column.name].index)
            values = [*known, "__kfp_mlops_unknown__", None]
            if column.kind == "boolean":
                values = [*(v for v in known if isinstance(v, bool | np.bool_)), None]
                values = [bool(v) if v is not None else None for v in values]
            columns[column.name] = [values[i % len(values)] for i in range(widest)]
        elif column.name in numeric:
            c = numeric[column.name]
            spread = c.scale if c.scale else max(abs(c.fill), 1.0)
            drawn = (c.fill + spread * rng.normal(size=widest)).tolist()
            drawn[:3] = [c.fill, 0.0, None]
            if column.kind == "integer":
                drawn = [None if v is None else round(v) for v in drawn]
            columns[column.name] = drawn
        else:  # a schema column the preprocessing does not read
            columns[column.name] = [None] * widest
    return checked_rows(columns, schema)


def verified(fast: FastPreprocess, model, probe) -> str:
    """What differs between the two paths' probabilities on `probe` ("" when nothing).

    Args:
        fast: The fast path.
        model: The pipeline it stands for.
        probe: Checked rows (frame.Rows), as requests reach the model.
    """
    expected = np.asarray(model.predict_proba(probe.frame()), dtype=float)
    got = np.asarray(fast.predict_proba(probe), dtype=float)
    if expected.shape != got.shape:
        return f"shape {got.shape} instead of {expected.shape}"
    worst = float(np.max(np.abs(expected - got))) if expected.size else 0.0
    return "" if worst <= TOLERANCE else f"probabilities differ by up to {worst:.3g}"


def _steps(pipeline, kinds: list[type]) -> list | None:
    from sklearn.pipeline import Pipeline

    if type(pipeline) is not Pipeline or len(pipeline.steps) != len(kinds):
        return None
    steps = [step for _, step in pipeline.steps]
    return steps if all(type(s) is k for s, k in zip(steps, kinds, strict=True)) else None


def _imputer_ok(imputer, strategy: str) -> bool:
    missing = imputer.missing_values
    return (
        imputer.strategy == strategy
        and isinstance(missing, float)
        and np.isnan(missing)
        and not imputer.add_indicator
        and not getattr(imputer, "keep_empty_features", False)
    )


def _numeric(pipeline, columns) -> tuple[NumericColumn, ...] | None:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    steps = _steps(pipeline, [SimpleImputer]) or _steps(pipeline, [SimpleImputer, StandardScaler])
    if steps is None or not _imputer_ok(steps[0], "median"):
        return None
    fills = steps[0].statistics_
    if len(fills) != len(columns) or np.isnan(fills).any():  # a dropped all-NaN column
        return None
    mean = scale = [None] * len(columns)
    if len(steps) == 2:
        scaler = steps[1]
        if not (scaler.with_mean and scaler.with_std):
            return None
        mean, scale = scaler.mean_.tolist(), scaler.scale_.tolist()
    return tuple(
        NumericColumn(str(c), float(f), m, s)
        for c, f, m, s in zip(columns, fills.tolist(), mean, scale, strict=True)
    )


def _categorical(pipeline, columns) -> tuple[CategoricalColumn, ...] | None:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    steps = _steps(pipeline, [SimpleImputer, OneHotEncoder])
    if steps is None or not _imputer_ok(steps[0], "most_frequent"):
        return None
    imputer, encoder = steps
    plain = (
        encoder.handle_unknown == "ignore"
        and encoder.drop is None
        and encoder.min_frequency is None
        and encoder.max_categories is None
        and not getattr(encoder, "_infrequent_enabled", False)
    )
    if not plain or len(encoder.categories_) != len(columns):
        return None
    out = []
    for name, fill, categories in zip(
        columns, imputer.statistics_.tolist(), encoder.categories_, strict=True
    ):
        values = categories.tolist()
        if len(set(values)) != len(values):
            return None
        out.append(
            CategoricalColumn(str(name), fill, {v: i for i, v in enumerate(values)}, len(values))
        )
    return tuple(out)
