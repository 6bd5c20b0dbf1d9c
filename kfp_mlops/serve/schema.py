"""The request schema of a served model: its feature columns in training order, and their types."""

from dataclasses import dataclass

from components._shared.logformat import SIGNATURE_KINDS
from components._shared.registry.inputs import input_kinds

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


def schema_from(model: object, signature_inputs: list[dict] | None, where: str) -> Schema:
    """The request schema of a loaded model.

    Its columns and their kinds are `registry.inputs.input_kinds`' (deploy_model reads a
    shadow's through it too): names and order from the fitted pipeline, kinds from the
    registered signature, or from the pipeline's preprocessing without one.

    Args:
        model: The loaded scikit-learn pipeline.
        signature_inputs: The registered signature's input columns (`[{"name", "type"}]`), or
            None when the version has none.
        where: Names the model in messages (models:/NAME/VERSION).

    Raises:
        DataError: The model does not record its feature names, the signature names other
            columns than the model, or a column has a type the server cannot check.
    """
    return Schema(tuple(Column(n, k) for n, k in input_kinds(model, signature_inputs, where)))
