"""The served model: loaded only through the sha-checked loader, with its schema and a warm-up."""

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from components._shared.errors import ConfigError
from components._shared.logformat import log_schema
from components._shared.model_io import ModelTrustError
from components._shared.registry.champion import load_model_uri, signature_inputs
from kfp_mlops.serve.fastpath import FastPreprocess, compile_fast, probe_frame, verified
from kfp_mlops.serve.frame import Rows, checked_rows
from kfp_mlops.serve.schema import Schema, schema_from


@dataclass(frozen=True)
class Prediction:
    """A model's answer for a frame: a label per row, and class probabilities when it has them."""

    labels: list
    probabilities: list[list[float]] | None
    # The same answer as arrays, for the prediction log: the class index per row and the
    # rounded probabilities (None for a model without predict_proba).
    codes: np.ndarray | None = field(default=None, compare=False)
    proba: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ServedModel:
    """A loaded registered version: what requests are checked against and what predicts."""

    name: str  # the name routes answer to (--name, default the registered name)
    registered_name: str
    version: int
    model: Any
    schema: Schema
    fast: FastPreprocess | None = None  # the same preprocessing in numpy, checked at load
    path: str = "pipeline"  # how rows reach the estimator, for the start-up line

    def with_fast_path(self) -> "ServedModel":
        """This model with the numpy preprocessing when it is provably the pipeline's own.

        The fast path must give the pipeline's probabilities on probe rows (every category,
        unknown and missing values, spread numbers); any difference keeps the pipeline.
        """
        fast = compile_fast(self.model)
        if fast is None:
            return replace(self, path="pipeline (not train_model's preprocessing shape)")
        try:
            problem = verified(fast, self.model, probe_frame(fast, self.schema))
        except Exception as exc:  # a probe the schema refuses, an estimator that raises
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            return replace(self, path=f"pipeline (fast path refused: {problem})")
        return replace(self, fast=fast, path="fast preprocessing (verified against the pipeline)")

    @property
    def classes(self) -> list:
        """The model's classes, in the order of its probability columns."""
        return np.asarray(getattr(self.model, "classes_", [])).tolist()

    def predict(self, rows: "Rows | pd.DataFrame") -> Prediction:
        """Labels (and probabilities) for rows already checked against the schema.

        One pass through the pipeline: the label is the most probable class, which is how
        our classifiers' own predict decides (calling both would preprocess the rows twice).
        Through the verified fast path the checked lists go straight to numpy; only the
        pipeline needs a DataFrame.
        """
        if self.fast is not None:
            proba = np.asarray(self.fast.predict_proba(rows), dtype=float)
        else:
            frame = rows.frame() if isinstance(rows, Rows) else rows
            if not hasattr(self.model, "predict_proba"):
                return Prediction(np.asarray(self.model.predict(frame)).tolist(), None)
            proba = np.asarray(self.model.predict_proba(frame), dtype=float)
        codes = proba.argmax(axis=1)
        rounded = proba.round(6)
        labels = np.asarray(self.model.classes_)[codes].tolist()
        return Prediction(labels, rounded.tolist(), codes, rounded)

    def log_schema(self):
        """The schema of this model's prediction-log files (components/_shared/logformat.py)."""
        return log_schema(((c.name, c.kind) for c in self.schema.columns), self.classes)

    def log_types(self) -> dict:
        """Arrow types of the log's columns by name (the log schema's)."""
        schema = self.log_schema()
        return dict(zip(schema.names, schema.types, strict=True))

    def warm_up(self) -> Prediction:
        """One prediction on a row of missing values (every train_model pipeline imputes)."""
        return self.predict(
            checked_rows({c.name: [None] for c in self.schema.columns}, self.schema)
        )


def _split(model_uri: str) -> str:
    if not model_uri.startswith("models:/"):
        raise ConfigError(
            f"model URI {model_uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION; the "
            "server serves registered versions only (their sha256 is recorded)"
        )
    rest = model_uri.removeprefix("models:/")
    return rest.partition("@")[0] if "@" in rest else rest.rpartition("/")[0]


def _check_pin(where: str, found_sha: str | None, pin: str | None) -> None:
    """Refuse a version whose file is not the one the deployment pinned (both hashes named)."""
    if pin and pin.lower() != (found_sha or "").lower():
        raise ModelTrustError(
            f"{where} has model_sha256 {found_sha}, but this server was pinned to {pin.lower()} "
            "(--model-sha256 / KFP_MLOPS_MODEL_SHA256): the registry no longer holds the file "
            "the deployment was rendered for; redeploy the version you mean, or find who "
            "changed it (its model_sha256 tag and file)"
        )


def _alias_unset(model_uri: str, registered: str) -> ConfigError:
    """The error for an alias that names no version: the model may not exist at all."""
    from mlflow.exceptions import MlflowException

    from components._shared.registry.client import mlflow_client
    from components._shared.settings import mlflow_tracking_uri

    client = mlflow_client(mlflow_tracking_uri())
    try:
        client.get_registered_model(registered)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        names = sorted(m.name for m in client.search_registered_models(max_results=50))
        return ConfigError(
            f"{model_uri}: there is no registered model {registered!r} in this MLflow "
            f"(registered: {names or 'none'}); check the name, or train and register one first"
        )
    return ConfigError(
        f"{model_uri}: the alias is not set on any version of {registered!r}; train and "
        "register one first, or name a version (models:/NAME/VERSION)"
    )


def load_served(
    model_uri: str, name: str | None = None, fast_path: bool = True, pin: str | None = None
) -> ServedModel:
    """Load a registered version through champion.load_model_uri and derive its schema.

    With `fast_path`, rows reach the estimator through fastpath.FastPreprocess when it is
    verified to give the pipeline's probabilities (`ServedModel.path` says which and why).
    With `pin` (the sha256 deploy_model rendered), the version's checked file must be that one.

    Raises:
        ConfigError: Not a registered model URI, no such version, or an alias not set.
        ModelTrustError: The signature is missing or does not verify (with
            KFP_MLOPS_MODEL_PUBLIC_PEM set), the file is not the recorded one (sha256), not
            the pinned one, or names untrusted types.
        DataError: The model does not record its columns, or its signature disagrees.
        ServiceError: MLflow does not answer.
    """
    registered = _split(model_uri)
    found = load_model_uri(model_uri)
    if found is None:
        raise _alias_unset(model_uri, registered)
    where = f"models:/{registered}/{found.version}"
    _check_pin(where, found.sha256, pin)
    schema = schema_from(found.model, signature_inputs(where), where)
    served = ServedModel(name or registered, registered, found.version, found.model, schema)
    try:
        served.log_schema()
    except ValueError as exc:  # a feature named like one of the log's own columns
        raise ConfigError(f"{where}: {exc}") from None
    return served.with_fast_path() if fast_path else served
