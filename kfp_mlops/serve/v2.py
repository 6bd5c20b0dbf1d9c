"""The Open Inference Protocol (V2) infer body: one tensor per column, or one 2-D tensor."""

import math

from kfp_mlops.serve.frame import RequestError, check_request_id, check_rows
from kfp_mlops.serve.schema import V2_DATATYPES, Schema

OUTPUTS = ("predict", "predict_proba")  # output tensor names: labels, class probabilities


def flatten(data: list) -> list:
    """Row-major values of a tensor whose data may be nested (the spec allows both)."""
    out, stack = [], [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _tensor(item: object, k: int) -> tuple[str, list[int], str, list]:
    """Name, shape, datatype and flat data of one input; the data must fill the shape."""
    if not isinstance(item, dict):
        raise RequestError(400, f"inputs[{k}] is not a tensor object (name, shape, datatype, data)")
    missing = [f for f in ("name", "shape", "datatype", "data") if f not in item]
    if missing:
        raise RequestError(400, f"inputs[{k}] lacks {missing}; a tensor has all four")
    name, shape, datatype, data = item["name"], item["shape"], item["datatype"], item["data"]
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise RequestError(400, f"inputs[{k}]: name and datatype are strings")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise RequestError(400, f"input {name!r}: shape {shape!r} is not a list of sizes")
    if not isinstance(data, list):
        raise RequestError(400, f"input {name!r}: data is not a list")
    flat = flatten(data)
    if len(flat) != math.prod(shape):
        raise RequestError(
            400,
            f"input {name!r}: shape {shape} holds {math.prod(shape)} values, "
            f"but data has {len(flat)}; make the shape match the data",
        )
    return name, shape, datatype, flat


def _one_2d(name: str, shape: list[int], datatype: str, flat: list, schema: Schema) -> dict:
    width = shape[1]
    kinds = {c.kind for c in schema.columns}
    allowed = (
        {"BYTES"}
        if "string" in kinds
        else set.intersection(*(V2_DATATYPES[k] for k in kinds)) | {"BYTES"}
    )
    if datatype not in allowed:
        raise RequestError(
            400,
            f"input {name!r}: a 2-D tensor for columns {schema.describe()} has datatype "
            f"one of {sorted(allowed)}, not {datatype!r}",
        )
    return {c: flat[k::width] for k, c in enumerate(schema.names)}


def _per_column(tensors: list, schema: Schema) -> dict[str, list]:
    columns, rows = {}, None
    kinds = {c.name: c.kind for c in schema.columns}
    for name, shape, datatype, flat in tensors:
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(
                400,
                f"input {name!r}: a column tensor has shape [rows] or [rows, 1], "
                f"not {shape}; or send one 2-D tensor [rows, {len(schema.columns)}]",
            )
        if rows is not None and shape[0] != rows:
            raise RequestError(400, f"input {name!r} has {shape[0]} rows, the others {rows}")
        rows = shape[0]
        if name in columns:
            raise RequestError(400, f"input {name!r} is given twice")
        kind = kinds.get(name)
        if kind is not None and datatype not in V2_DATATYPES[kind]:
            raise RequestError(
                400,
                f"input {name!r}: column {name} ({kind}) takes datatype one of "
                f"{sorted(V2_DATATYPES[kind])}, not {datatype!r}",
            )
        columns[name] = flat
    return columns


def v2_columns(body: object, schema: Schema, max_rows: int) -> dict[str, list]:
    """The value lists by column of a V2 infer body.

    A single input of shape [rows, columns] whose name is not a column is the 2-D form, its
    columns in training order; otherwise each input is one column, named as in training.

    Raises:
        RequestError: Not an inference request, a shape that does not match its data, a
            datatype a column does not take, no rows or too many (all 400).
    """
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise RequestError(
            400,
            'a V2 infer body is a JSON object {"inputs": [{"name", "shape", "datatype", '
            '"data"}, ...]} with at least one input',
        )
    if body.get("id") not in (None, ""):
        check_request_id(body["id"], "id")
    tensors = [_tensor(item, k) for k, item in enumerate(body["inputs"])]
    name, shape = tensors[0][0], tensors[0][1]
    width = len(schema.columns)
    if len(tensors) == 1 and len(shape) == 2 and shape[1] == width and name not in schema.names:
        check_rows(shape[0], max_rows)
        return _one_2d(*tensors[0], schema)
    columns = _per_column(tensors, schema)
    check_rows(tensors[0][1][0], max_rows)
    return columns


def requested_outputs(body: dict) -> tuple[str, ...]:
    """The output names the request asks for (all when it names none)."""
    wanted = body.get("outputs")
    if not wanted:
        return OUTPUTS
    if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
        raise RequestError(400, 'outputs is a list of {"name": ...} objects')
    names = tuple(o.get("name") for o in wanted)
    if not all(isinstance(n, str) for n in names):
        raise RequestError(400, 'outputs is a list of {"name": ...} objects, each name a string')
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise RequestError(400, f"unknown output(s) {unknown}; the model gives {list(OUTPUTS)}")
    return names


def datatype_of(values: list) -> str:
    """The V2 datatype of a list of labels."""
    first = values[0] if values else 0
    if isinstance(first, bool):
        return "BOOL"
    if isinstance(first, int):
        return "INT64"
    return "FP64" if isinstance(first, float) else "BYTES"


def v2_outputs(
    names: tuple[str, ...], labels: list, probabilities: list | None, classes: list
) -> list[dict]:
    """The response's output tensors, in the order asked for.

    `predict_proba` carries the classes its columns stand for as `parameters.classes` (the
    tensor alone does not say), which the payload-logger sink reads to name `proba_<class>`.
    """
    rows, out = len(labels), []
    for name in names:
        if name == "predict":
            out.append(
                {"name": name, "shape": [rows], "datatype": datatype_of(labels), "data": labels}
            )
        elif probabilities is not None:
            width = len(probabilities[0]) if probabilities else 0
            flat = [p for row in probabilities for p in row]
            out.append(
                {
                    "name": name, "shape": [rows, width], "datatype": "FP64",
                    "parameters": {"classes": classes}, "data": flat,
                }
            )  # fmt: skip
    return out
