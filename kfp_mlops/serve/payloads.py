"""A logged V1 or V2 request and response read as the prediction log's typed columns.

The sink has no model: V2 tensors declare their datatype; V1 values are typed by what they
are (every value of a column one JSON type). Either way each value is checked as the server
checks it (int64, finite float64, valid Unicode), so the sink never queues a value the
log's types cannot hold. The server's own answers name their classes (V1 `classes`, V2
`predict_proba`'s `parameters.classes`), so their probabilities become `proba_<class>`, as
the server logs them; another runtime's probabilities keep their tensor's name.
"""

import math
from dataclasses import dataclass

from components._shared.logformat import PREDICTION, proba_column
from kfp_mlops.serve.frame import RequestError, check_column
from kfp_mlops.serve.schema import V2_DATATYPES, Column
from kfp_mlops.serve.v2 import flatten

# The column kind a V2 datatype declares (a datatype several kinds take: the narrowest).
V2_KINDS = {"BYTES": "string", "BOOL": "boolean"} | {
    d: "double" if d.startswith("FP") else "integer" for d in V2_DATATYPES["double"]
}
_JSON_KINDS = {frozenset({str}): "string", frozenset({bool}): "boolean",
               frozenset({int}): "integer", frozenset({float}): "double",
               frozenset({int, float}): "double"}  # fmt: skip


@dataclass(frozen=True)
class Columns:
    """Values by column name, and each column's kind (None: every value null)."""

    values: dict[str, list]
    kinds: dict[str, str | None]

    @property
    def rows(self) -> int:
        """How many rows the columns hold (0 when none)."""
        return len(next(iter(self.values.values()))) if self.values else 0


def _kind_of(name: str, values: list) -> str | None:
    seen = frozenset(map(type, values)) - {type(None)}
    if not seen:
        return None
    kind = _JSON_KINDS.get(seen)
    if kind is None:
        found = sorted(t.__name__ for t in seen)
        raise RequestError(400, f"column {name!r} holds values of several kinds {found}")
    return kind


def _checked(values: dict[str, list], kinds: dict[str, str | None]) -> Columns:
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1:
        raise RequestError(400, f"the columns have different lengths {sorted(lengths)}")
    for name, column in values.items():
        kind = kinds.get(name) or _kind_of(name, column)
        kinds[name] = kind
        if kind is not None:
            check_column(Column(name, kind), column)
    return Columns(values, kinds)


def _tensor(item: object, k: int, what: str) -> tuple[str, list[int], str, list]:
    if not isinstance(item, dict) or not isinstance(item.get("data"), list):
        raise RequestError(400, f"{what}s[{k}] is not a tensor with data")
    name, shape, datatype = item.get("name", f"{what}_{k}"), item.get("shape"), item.get("datatype")
    if not isinstance(name, str) or not isinstance(shape, list):
        raise RequestError(400, f"{what}s[{k}]: name is a string and shape a list")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise RequestError(400, f"{what} {name!r}: shape {shape!r} is not a list of sizes")
    flat = flatten(item["data"])
    if len(flat) != math.prod(shape):
        raise RequestError(400, f"{what} {name!r}: shape {shape!r} does not match its data")
    return name, shape, datatype if isinstance(datatype, str) else "", flat


def _tensors(tensors: list, what: str) -> tuple[dict[str, list], dict[str, str | None]]:
    """V2 tensors as columns: [n] or [n, 1] by name, [n, k] as name_0 .. name_{k-1}."""
    values, kinds = {}, {}
    for k, item in enumerate(tensors):
        name, shape, datatype, flat = _tensor(item, k, what)
        width = 1 if len(shape) <= 1 else math.prod(shape[1:])
        parts = (
            {name: flat} if width == 1 else {f"{name}_{j}": flat[j::width] for j in range(width)}
        )
        values |= parts
        kinds |= dict.fromkeys(parts, V2_KINDS.get(datatype))
    return values, kinds


def input_columns(body: object) -> Columns:
    """The input rows of a V1 (`instances`) or V2 (`inputs`) request as typed columns.

    V1 records are named by their keys; V1 lists and V2 2-D tensors, which carry no column
    names, become input_0, input_1, ... (or <tensor>_0, ...).

    Raises:
        RequestError: Not a request payload, columns of unequal length, or a value that is
            not of its column's kind or outside its type (400).
    """
    if isinstance(body, dict) and isinstance(body.get("instances"), list):
        instances = body["instances"]
        if instances and all(isinstance(i, dict) for i in instances):
            names = list(dict.fromkeys(k for i in instances for k in i))
            return _checked({n: [i.get(n) for i in instances] for n in names}, {})
        if instances and all(isinstance(i, list) for i in instances):
            width = max(len(i) for i in instances)
            return _checked(
                {
                    f"input_{j}": [i[j] if j < len(i) else None for i in instances]
                    for j in range(width)
                },
                {},
            )
        raise RequestError(400, "instances are neither all records nor all lists")
    if isinstance(body, dict) and isinstance(body.get("inputs"), list) and body["inputs"]:
        return _checked(*_tensors(body["inputs"], "input"))
    raise RequestError(400, 'a request payload is {"instances": [...]} or {"inputs": [...]}')


def _classes(value: object) -> list | None:
    if isinstance(value, list) and value and all(isinstance(c, str | int | bool) for c in value):
        return value
    return None


def _v1_outputs(body: dict) -> tuple[dict[str, list], dict]:
    predictions = body["predictions"]
    if all(not isinstance(p, list | dict) for p in predictions):
        values = {PREDICTION: predictions}
    else:
        width = max((len(p) for p in predictions if isinstance(p, list)), default=0)
        values = {
            f"{PREDICTION}_{j}": [p[j] if isinstance(p, list) and j < len(p) else None
                                  for p in predictions]
            for j in range(width)
        }  # fmt: skip
    classes, proba = _classes(body.get("classes")), body.get("probabilities")
    if classes is not None and isinstance(proba, list) and len(proba) == len(predictions):
        if not all(isinstance(r, list) and len(r) == len(classes) for r in proba):
            raise RequestError(400, "probabilities do not have one value per class")
        for j, c in enumerate(classes):
            values[proba_column(c)] = [r[j] for r in proba]
    kinds = {n: "double" for n in values if n != PREDICTION and not n.startswith(PREDICTION)}
    return values, kinds


def _v2_outputs(outputs: list) -> tuple[dict[str, list], dict]:
    values, kinds = _tensors(outputs, "output")
    first = outputs[0].get("name")
    if first in values:
        values = {PREDICTION if k == first else k: v for k, v in values.items()}
        kinds = {PREDICTION if k == first else k: v for k, v in kinds.items()}
    for item in outputs:
        params = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
        classes, name = _classes(params.get("classes")), item.get("name")
        shape = item.get("shape")
        if classes is None or not isinstance(shape, list) or shape[1:] != [len(classes)]:
            continue
        for j, c in enumerate(classes):  # the server's predict_proba: proba_<class>
            values[proba_column(c)] = values.pop(f"{name}_{j}")
            kinds[proba_column(c)] = kinds.pop(f"{name}_{j}")
    return values, kinds


def output_columns(body: object) -> Columns:
    """The outputs of a V1 (`predictions`) or V2 (`outputs`) response as typed columns.

    The first output (V1 predictions, or V2's first tensor when it is one column) is
    `prediction`, the column monitoring compares; probabilities whose classes the answer
    names are `proba_<class>`; other outputs keep their names.

    Raises:
        RequestError: Not a response payload, or a value outside its column's type (400).
    """
    if isinstance(body, dict) and isinstance(body.get("predictions"), list):
        return _checked(*_v1_outputs(body))
    if isinstance(body, dict) and isinstance(body.get("outputs"), list) and body["outputs"]:
        return _checked(*_v2_outputs(body["outputs"]))
    raise RequestError(400, 'a response payload is {"predictions": [...]} or {"outputs": [...]}')
