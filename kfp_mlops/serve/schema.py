"""The request schema of a served model: its feature columns in training order, and their types."""

from dataclasses import dataclass

from components._shared.errors import DataError
from components._shared.logformat import SIGNATURE_KINDS

# Kinds of column a request may carry, from MLflow's signature types (the training frame's).
KINDS = SIGNATURE_KINDS
# Open Inference Protocol datatypes each kind accepts in a per-column tensor.
V2_DATATYPES = {
    "string": {"BYTES"},
    "integer": {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"},
    "double": {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16"}
    | {"UINT32", "UINT64"},
    "boolean": {"BOOL"},
}
# The datatype a column of each kind is described with in V2 model metadata.
V2_DATATYPE = {"string": "BYTES", "integer": "INT64", "double": "FP64", "boolean": "BOOL"}


@dataclass(frozen=True)
class Column:
    """One feature column: its name and kind (string, integer, double or boolean)."""

    name: str
    kind: str


@dataclass(frozen=True)
class Schema:
    """The feature columns a request must carry, in the order the model was trained on."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """The column names in training order."""
        return [c.name for c in self.columns]

    def describe(self) -> str:
        """`name (kind), ...` for error messages."""
        return ", ".join(f"{c.name} ({c.kind})" for c in self.columns)


def _pipeline_kinds(model: object) -> dict[str, str]:
    """Kinds read from the fitted pipeline: columns one-hot encoded are strings, others doubles."""
    kinds: dict[str, str] = {}
    steps = getattr(model, "steps", None) or []
    for _, step in steps:
        for _, transformer, columns in getattr(step, "transformers_", []):
            encodes = "OneHotEncoder" in repr(transformer)
            for column in columns if isinstance(columns, list | tuple) else []:
                kinds[str(column)] = "string" if encodes else "double"
    return kinds


def signature_kinds(signature_inputs: list[dict], where: str) -> dict[str, str]:
    """Each signature input's kind by name (MLflow's types: long, double, string, ...).

    Raises:
        DataError: A type the server does not check (the message lists the served ones).
    """
    kinds = {}
    for spec in signature_inputs:
        kind = KINDS.get(str(spec.get("type")))
        if kind is None:
            raise DataError(
                f"{where}: column {spec.get('name')!r} has signature type {spec.get('type')!r}, "
                f"which the server does not accept; served types: {sorted(KINDS)}"
            )
        kinds[str(spec.get("name"))] = kind
    return kinds


def schema_from(model: object, signature_inputs: list[dict] | None, where: str) -> Schema:
    """The request schema of a loaded model.

    The names and their order come from the fitted pipeline (`feature_names_in_`), which was
    loaded through the sha-checked loader. The types come from the signature MLflow recorded
    from the training frame at registration; it must name exactly the same columns. Without a
    signature, the pipeline's own preprocessing decides (one-hot encoded → string, else double).

    Args:
        model: The loaded scikit-learn pipeline.
        signature_inputs: The registered signature's input columns (`[{"name", "type"}]`), or
            None when the version has none.
        where: Names the model in messages (models:/NAME/VERSION).

    Raises:
        DataError: The model does not record its feature names, the signature names other
            columns than the model, or a column has a type the server cannot check.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise DataError(
            f"{where} does not record its feature columns (feature_names_in_); serve a model "
            "trained on a DataFrame, as train_model trains them"
        )
    names = [str(n) for n in names]
    if signature_inputs:
        kinds = signature_kinds(signature_inputs, where)
        if set(kinds) != set(names):
            raise DataError(
                f"{where}: the registered signature names columns {sorted(kinds)}, but the model "
                f"was fitted on {sorted(names)}; re-register the model from its training run"
            )
    else:
        kinds = _pipeline_kinds(model)
    return Schema(tuple(Column(n, kinds.get(n, "double")) for n in names))
