"""The InferenceService v1beta1 openAPIV3Schema from KServe's CRD, made strict, as a validator.

The CRD file is the one copied unchanged from KServe v0.20.0 into the shared reference folder
beside the repository (`../shared/reference/kserve/`, or KFP_MLOPS_KSERVE_CRD). Its schema
lists `properties` without `additionalProperties: false`, so as is it accepts a misspelled
field; an API server drops (or, with fieldValidation=Strict, refuses) such a field. Here every
object schema that lists properties and does not preserve unknown fields gets
`additionalProperties: false`, and `x-kubernetes-int-or-string` becomes integer-or-string.
"""

import copy
import functools
import os
from pathlib import Path

import jsonschema
import yaml

REPO = Path(__file__).resolve().parent.parent
CRD_ENV = "KFP_MLOPS_KSERVE_CRD"
CRD_NAME = "serving.kserve.io_inferenceservices.yaml"


def crd_path() -> Path:
    """Where the CRD is: KFP_MLOPS_KSERVE_CRD, else ../shared/reference/kserve/ of the repo."""
    path = Path(
        os.environ.get(CRD_ENV) or REPO.parent / "shared" / "reference" / "kserve" / CRD_NAME
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"the KServe CRD {CRD_NAME} is not at {path}; set {CRD_ENV} to a copy of "
            "config/crd/full/serving.kserve.io_inferenceservices.yaml from KServe v0.20.0"
        )
    return path


def _strict(node):
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _strict(v) for k, v in node.items()}
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node


@functools.cache
def schema() -> dict:
    """The strict v1beta1 schema (the 1.9 MB CRD is parsed once, with the C loader)."""
    with crd_path().open() as f:
        crd = yaml.load(f, Loader=yaml.CSafeLoader)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    return _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))


@functools.cache
def validator() -> jsonschema.Draft7Validator:
    """A validator of whole InferenceService objects."""
    return jsonschema.Draft7Validator(schema())


def field_path(error: jsonschema.ValidationError) -> str:
    """`spec.predictor.containers[0].name` style path of an error."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problems(obj: dict) -> list[tuple[str, str, str]]:
    """(kind, field, message) of every violation; kind `unknown` for a field not in the schema."""
    found = []
    for error in validator().iter_errors(obj):
        where = field_path(error)
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            found += [("unknown", f"{where}.{k}" if where else k, "unknown field") for k in extra]
        else:
            found.append(("invalid", where, error.message))
    return found
