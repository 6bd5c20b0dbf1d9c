"""A registered version's inputs as the server checks them, and whether a shadow fits a primary.

One home for both: the server (`kfp-mlops serve --shadow`) refuses to start with a shadow
that does not fit, and deploy_model refuses the same shadow before anything is applied, so
that no pod crash-loops on it. Both call `check_shadow_fits` with `Face`s read here.
"""

from dataclasses import dataclass

from components._shared.errors import ConfigError, DataError
from components._shared.logformat import SIGNATURE_KINDS


@dataclass(frozen=True)
class Face:
    """What a version shows the rows it is sent: its inputs (name, kind) and its classes."""

    version: int
    inputs: tuple[tuple[str, str], ...]  # in training order
    classes: tuple[str, ...]  # in the order of its probability columns


def signature_kinds(signature_inputs: list[dict], where: str) -> dict[str, str]:
    """Each signature input's kind by name (MLflow's types: long, double, string, ...).

    Raises:
        DataError: A type the server does not check (the message lists the served ones).
    """
    kinds = {}
    for spec in signature_inputs:
        kind = SIGNATURE_KINDS.get(str(spec.get("type")))
        if kind is None:
            raise DataError(
                f"{where}: column {spec.get('name')!r} has signature type {spec.get('type')!r}, "
                f"which the server does not accept; served types: {sorted(SIGNATURE_KINDS)}"
            )
        kinds[str(spec.get("name"))] = kind
    return kinds


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


def input_kinds(
    model: object, signature_inputs: list[dict] | None, where: str
) -> list[tuple[str, str]]:
    """(name, kind) of a loaded model's inputs, in training order.

    The names and their order come from the fitted pipeline (`feature_names_in_`), loaded
    through the sha-checked loader. The kinds come from the signature MLflow recorded from
    the training frame at registration, which must name exactly the same columns; without a
    signature, the pipeline's own preprocessing decides (one-hot encoded: string, else double).

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
    return [(n, kinds.get(n, "double")) for n in names]


def classes_of(model: object) -> tuple[str, ...]:
    """A model's classes as text, in the order of its probability columns (none: empty)."""
    return tuple(str(c) for c in getattr(model, "classes_", ()))


def registered_face(model_name: str, version: int, model: object) -> Face:
    """The Face of a registered version already loaded (its signature read from MLflow).

    Raises:
        DataError: As `input_kinds`.
        ServiceError: MLflow does not answer.
    """
    from components._shared.registry.champion import signature_inputs

    where = f"models:/{model_name}/{version}"
    inputs = input_kinds(model, signature_inputs(where), where)
    return Face(version, tuple(inputs), classes_of(model))


def _input_difference(mine: tuple, theirs: tuple) -> str | None:
    """How two versions' inputs differ (primary vs shadow), or None when they are the same."""
    if mine == theirs:
        return None
    a, b = dict(mine), dict(theirs)
    if a == b:  # the same columns and kinds, in another order
        return f"column order: {[n for n, _ in mine]} vs {[n for n, _ in theirs]}"
    differ = [n for n in [*a, *(n for n in b if n not in a)] if a.get(n) != b.get(n)]
    return ", ".join(f"{n}: {a.get(n, 'absent')} vs {b.get(n, 'absent')}" for n in differ)


def check_shadow_fits(primary: Face, shadow: Face, where: str, then: str = "") -> None:
    """Refuse a shadow that cannot predict the primary's rows, or log them in its partition.

    The shadow is sent the very rows the primary checked, in its column order, and its rows
    go to the primary's partition, of one schema: the same input names in the same order and
    of the same kinds, and the same classes in the same order.

    Args:
        primary: The version that answers.
        shadow: The version that would shadow it.
        where: Starts the message (`--shadow URI`, `model 'NAME'`).
        then: Ends the message (what was not done), or "".

    Raises:
        ConfigError: Another input (its name and both kinds) or other classes, both named.
    """
    said = _input_difference(primary.inputs, shadow.inputs)
    if said is not None:
        raise ConfigError(
            f"{where}: shadow v{shadow.version}'s input schema differs from the primary's "
            f"(v{primary.version}) in {said} (primary vs shadow); a shadow must take the very "
            "rows the primary is sent (both log to one partition of one schema): shadow a "
            f"version trained on the same columns, of the same types{then}"
        )
    if shadow.classes != primary.classes:
        raise ConfigError(
            f"{where}: shadow v{shadow.version} predicts classes {list(shadow.classes)}, the "
            f"primary (v{primary.version}) {list(primary.classes)}; both log to one partition "
            f"of one schema, so a shadow must have the primary's classes in the same order{then}"
        )
