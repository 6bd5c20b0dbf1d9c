"""KServe's V1 protocol: `{"instances": [...]}` in, `{"predictions": [...]}` out."""

from operator import itemgetter

from kfp_mlops.serve.frame import RequestError, check_names, check_rows
from kfp_mlops.serve.schema import Schema


def _records(instances: list[dict], schema: Schema) -> dict[str, list]:
    names = schema.names
    expected = set(names)
    for row, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise RequestError(
                400,
                f"instance {row} is a {type(instance).__name__}, but instance 0 is a "
                "record; send every instance as a record or every one as a list",
            )
        if instance.keys() != expected:
            try:
                check_names(list(instance), schema)
            except RequestError as exc:
                raise RequestError(400, f"instance {row}: {exc.message}") from None
    if len(names) == 1:
        return {names[0]: [i[names[0]] for i in instances]}
    # One C-level pass: each record to a tuple in training order, then transposed.
    columns = zip(*map(itemgetter(*names), instances), strict=True)
    return dict(zip(names, map(list, columns), strict=True))


def _lists(instances: list[list], schema: Schema) -> dict[str, list]:
    width = len(schema.columns)
    for row, instance in enumerate(instances):
        if not isinstance(instance, list):
            raise RequestError(
                400,
                f"instance {row} is a {type(instance).__name__}, but instance 0 is a "
                "list; send every instance as a record or every one as a list",
            )
        if len(instance) != width:
            raise RequestError(
                400,
                f"instance {row} holds {len(instance)} values, but the model takes "
                f"{width} in this order: {schema.describe()}",
            )
    return {name: [i[k] for i in instances] for k, name in enumerate(schema.names)}


def v1_columns(body: object, schema: Schema, max_rows: int) -> dict[str, list]:
    """The value lists by column of a V1 predict body; instances are records or lists.

    Raises:
        RequestError: No `instances` list, no rows, too many, or instances of mixed form,
            missing or extra columns, or lists of the wrong length (all 400).
    """
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise RequestError(
            400,
            'a V1 predict body is a JSON object {"instances": [...]}, each instance a '
            "record by column or a list in training column order",
        )
    instances = body["instances"]
    check_rows(len(instances), max_rows)
    if isinstance(instances[0], dict):
        return _records(instances, schema)
    if isinstance(instances[0], list):
        return _lists(instances, schema)
    raise RequestError(
        400,
        f"instance 0 is a {type(instances[0]).__name__}; each instance is a record "
        f"by column or a list in this order: {schema.describe()}",
    )


def v1_response(labels: list, probabilities: list | None, classes: list, model: tuple) -> dict:
    """The V1 answer: labels, and each class's probability in `classes` order when known.

    With the model's registered name and version (what the payload-logger sink logs the
    rows under).
    """
    out: dict = {"predictions": labels}
    if probabilities is not None:
        out |= {"classes": classes, "probabilities": probabilities}
    return out | {"model_name": model[0], "model_version": model[1]}
