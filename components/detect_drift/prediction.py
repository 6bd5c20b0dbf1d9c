"""Prediction drift: the model's output on both datasets, compared like any other column.

The model scores each batch as it is read, so prediction drift streams in bounded memory too.
A classifier with `predict_proba` gives the probability of its last class (the positive class
of a binary model: a numerical column, as Evidently treats probabilistic predictions); any
other model gives its predicted labels (a categorical column).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from components._shared.errors import ConfigError, DataError

PREDICTION = "prediction"


def features_of(model: Any) -> list[str]:
    """The input columns a fitted scikit-learn model was trained on."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise ConfigError(
            f"the model ({type(model).__name__}) does not record its input columns "
            "(feature_names_in_): fit it on a DataFrame, as the training pipeline does"
        )
    return [str(n) for n in names]


def predict(model: Any, batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """The model's output for each row: positive-class probability, or the predicted label."""
    frame = batch.to_pandas()
    if hasattr(model, "predict_proba"):
        return pa.array(np.asarray(model.predict_proba(frame))[:, -1], pa.float64())
    return pa.array(np.asarray(model.predict(frame)))


@dataclass
class PredictedSource:
    """A source with one more column, `prediction`, computed from the model's features."""

    source: Any
    model: Any
    label: str

    def __post_init__(self):
        self.features = features_of(self.model)
        missing = [f for f in self.features if f not in self.source.schema.names]
        if missing:
            raise DataError(
                f"the {self.label} data lacks the model's input columns {missing}; prediction "
                "drift needs every feature the model was trained on (or leave the model out)"
            )
        first = next(self.source.batches(self.features), None)
        kind = pa.float64() if first is None else predict(self.model, first.slice(0, 1)).type
        # A prediction log's own `prediction` column is shadowed: the model's output is
        # computed the same way on both sides (the reference has none to compare with).
        fields = [f for f in self.source.schema if f.name != PREDICTION]
        self.schema = pa.schema(fields).append(pa.field(PREDICTION, kind))
        self.num_rows, self.uri = self.source.num_rows, self.source.uri

    def _read(self, columns: list[str]) -> list[str]:
        return list(dict.fromkeys([c for c in columns if c != PREDICTION] + self.features))

    def batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """The selected columns (and the prediction, if selected), batch by batch."""
        for batch in self.source.batches(self._read(columns)):
            arrays = {c: batch.column(c) for c in columns if c != PREDICTION}
            if PREDICTION in columns:
                arrays[PREDICTION] = predict(self.model, batch.select(self.features))
            yield pa.RecordBatch.from_pydict({c: arrays[c] for c in columns})

    def table(self, columns: list[str]) -> pa.Table:
        """The selected columns in memory, predictions made batch by batch."""
        return pa.Table.from_batches(list(self.batches(columns)))
