"""Inputs and outputs read from a logged V1 or V2 payload without knowing the model's schema."""

import math

from kfp_mlops.serve.frame import RequestError
from kfp_mlops.serve.v2 import flatten


def _equal_lengths(columns: dict[str, list], what: str) -> int:
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise RequestError(400, f"the {what} columns have different lengths {sorted(lengths)}")
    return lengths.pop()


def _tensor_columns(tensors: list, default: str) -> dict[str, list]:
    """Columns of V2 tensors: [n] or [n, 1] by name, [n, k] as name_0 .. name_{k-1}."""
    columns = {}
    for k, item in enumerate(tensors):
        if not isinstance(item, dict) or not isinstance(item.get("data"), list):
            raise RequestError(400, f"{default}s[{k}] is not a tensor with data")
        name, shape = str(item.get("name", f"{default}_{k}")), item.get("shape")
        flat = flatten(item["data"])
        if not isinstance(shape, list) or len(flat) != math.prod(shape):
            raise RequestError(400, f"{default} {name!r}: shape {shape!r} does not match its data")
        width = 1 if len(shape) == 1 else math.prod(shape[1:])
        if width == 1:
            columns[name] = flat
        else:
            columns |= {f"{name}_{j}": flat[j::width] for j in range(width)}
    return columns


def input_columns(body: object) -> dict[str, list]:
    """The input rows of a V1 (`instances`) or V2 (`inputs`) request as columns.

    V1 records are named by their keys; V1 lists and V2 2-D tensors, which carry no column
    names, become input_0, input_1, ... (or <tensor>_0, ...).
    """
    if isinstance(body, dict) and isinstance(body.get("instances"), list):
        instances = body["instances"]
        if instances and all(isinstance(i, dict) for i in instances):
            names = list(dict.fromkeys(k for i in instances for k in i))
            return {n: [i.get(n) for i in instances] for n in names}
        if instances and all(isinstance(i, list) for i in instances):
            width = max(len(i) for i in instances)
            return {
                f"input_{j}": [i[j] if j < len(i) else None for i in instances]
                for j in range(width)
            }
        raise RequestError(400, "instances are neither all records nor all lists")
    if isinstance(body, dict) and isinstance(body.get("inputs"), list) and body["inputs"]:
        columns = _tensor_columns(body["inputs"], "input")
        _equal_lengths(columns, "input")
        return columns
    raise RequestError(400, 'a request payload is {"instances": [...]} or {"inputs": [...]}')


def output_columns(body: object) -> dict[str, list]:
    """The outputs of a V1 (`predictions`) or V2 (`outputs`) response as columns.

    The first output (V1 predictions, or V2's first tensor when it is one column) is
    `prediction`, the column monitoring compares; other outputs keep their names.
    """
    if isinstance(body, dict) and isinstance(body.get("predictions"), list):
        predictions = body["predictions"]
        if all(not isinstance(p, list | dict) for p in predictions):
            return {"prediction": predictions}
        return {
            f"prediction_{j}": [p[j] if isinstance(p, list) else None for p in predictions]
            for j in range(max(len(p) for p in predictions if isinstance(p, list)))
        }
    if isinstance(body, dict) and isinstance(body.get("outputs"), list) and body["outputs"]:
        columns = _tensor_columns(body["outputs"], "output")
        first = str(body["outputs"][0].get("name"))
        if first in columns:
            columns = {"prediction" if k == first else k: v for k, v in columns.items()}
        return columns
    raise RequestError(400, 'a response payload is {"predictions": [...]} or {"outputs": [...]}')
