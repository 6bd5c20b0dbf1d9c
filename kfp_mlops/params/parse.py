"""Pipeline parameters: read from a file and `-p key=value`, checked against the compiled spec.

The compiled spec is the contract: names, types and defaults come from its root
inputDefinitions; ranges and registries come from the rules in kfp_mlops/params/rules.py. A wrong
parameter is caught before anything runs.
"""

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kfp_mlops.errors import UsageError
from kfp_mlops.params.rules import problems
from kfp_mlops.params.syntax import syntax

_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list,),
    "STRUCT": (dict,),
}


@dataclass(frozen=True)
class Parameter:
    """One pipeline input as the compiled spec declares it."""

    name: str
    type: str
    default: Any
    optional: bool


def spec_parameters(spec_path: Path) -> dict[str, Parameter]:
    """The root parameters of a compiled pipeline spec."""
    spec = next(yaml.safe_load_all(spec_path.read_text()))
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    found = {}
    for name, d in declared.items():
        default = d.get("defaultValue")
        if d["parameterType"] == "NUMBER_INTEGER" and default is not None:
            default = int(default)  # the spec stores every number as a double
        found[name] = Parameter(name, d["parameterType"], default, bool(d.get("isOptional")))
    return found


def _parse_cli_value(raw: str, param: Parameter, base: Path) -> Any:
    if raw.startswith("@"):  # -p suite=@data/suites/x.json reads the value from a file
        path = (base / raw[1:]).resolve()
        if not path.is_file():
            raise UsageError(f"parameter {param.name}: file {raw[1:]!r} not found")
        raw = path.read_text()
        return raw if param.type == "STRING" else _loads(raw, param.name)
    if param.type == "STRING":
        return raw
    if param.type == "LIST":
        return _list_value(raw, param)
    if param.type == "STRUCT":
        return _mapping_value(raw, param)
    return _loads(raw, param.name)


def _unreadable(raw: str, param: Parameter, why: str = "") -> UsageError:
    kind = "a list" if param.type == "LIST" else "a mapping"
    why = f" ({why})" if why else ""
    how = syntax(param.name, param.type)
    return UsageError(f"parameter {param.name}: cannot read {raw[:60]!r} as {kind}{why}; {how}")


def _list_value(raw: str, param: Parameter) -> list:
    """A JSON (or YAML flow) list, or comma-separated items read as text; "" is empty."""
    text = raw.strip()
    if not text:
        return []
    if not text.startswith("["):
        return [item.strip() for item in text.split(",")]
    try:
        value = yaml.safe_load(text)  # JSON is YAML: '["sex", "age"]' and [sex, age] both read
    except yaml.YAMLError as exc:
        raise _unreadable(raw, param, _first_line(exc)) from exc
    if not isinstance(value, list):
        raise _unreadable(raw, param)
    return value


def _mapping_value(raw: str, param: Parameter) -> dict:
    """A JSON (or YAML flow) object, `key: value`, or comma-separated key=value; "" is empty."""
    text = raw.strip()
    if not text:
        return {}
    if not text.startswith("{") and "=" in text:
        pairs = [part.partition("=") for part in text.split(",")]
        if any(not sep or not key.strip() for key, sep, _ in pairs):
            raise _unreadable(raw, param, "each comma-separated item must be key=value")
        return {key.strip(): _scalar(value.strip()) for key, _, value in pairs}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _unreadable(raw, param, _first_line(exc)) from exc
    if not isinstance(value, dict):
        raise _unreadable(raw, param)
    return value


def _scalar(text: str) -> Any:
    """A key=value pair's value: a number, true/false, null, or else the text itself."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _loads(text: str, name: str) -> Any:
    try:
        return yaml.safe_load(text)  # JSON is YAML; also accepts true/false and bare numbers
    except yaml.YAMLError as exc:
        raise UsageError(f"parameter {name}: cannot parse {text[:60]!r}: {exc}") from exc


def _check_type(param: Parameter, value: Any) -> Any:
    expected = _TYPES[param.type]
    ok = False if isinstance(value, bool) and bool not in expected else isinstance(value, expected)
    if not ok:
        how = syntax(param.name, param.type)  # a list or mapping: its two forms, with examples
        way_out = (
            f"To set it, {how}, or give it in the --params file"
            if how
            else f"Set it with -p {param.name}=VALUE or in the --params file"
        )
        raise UsageError(
            f"parameter {param.name} must be {param.type.lower().replace('number_', '')}, "
            f"got {type(value).__name__} {json.dumps(value, default=str)[:60]}; the default is "
            f"{json.dumps(param.default)}. {way_out}"
        )
    return float(value) if param.type == "NUMBER_DOUBLE" else value


def resolve(
    spec_path: Path,
    params_file: Path | None = None,
    overrides: list[str] = (),
    cwd: Path | None = None,
    check=problems,
) -> dict[str, Any]:
    """Merge a parameters file and `key=value` overrides, checked against the spec.

    The spec's file stem (compiled/<pipeline>.yaml) names the pipeline in the errors. `check`
    applies the rules (`rules.problems` or one answering the same, e.g. in another process).
    """
    declared = spec_parameters(spec_path)
    cwd = cwd or Path.cwd()
    given: dict[str, Any] = {}
    if params_file is not None:
        if not params_file.is_file():
            raise UsageError(f"parameters file {str(params_file)!r} not found")
        loaded = _loads(params_file.read_text(), str(params_file))
        if not isinstance(loaded, dict):
            raise UsageError(
                f"parameters file {str(params_file)!r} must hold a mapping of name: value"
            )
        base = params_file.resolve().parent
        for key, value in loaded.items():
            # "@path" for a list/dict parameter: read it from a file beside the params file.
            param = declared.get(key)
            if (
                param
                and param.type != "STRING"
                and isinstance(value, str)
                and value.startswith("@")
            ):
                value = _parse_cli_value(value, param, base)
            given[key] = value
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UsageError(f"-p {item!r}: expected key=value")
        if key not in declared:
            given[key] = raw  # reported as unknown below, with the valid names
            continue
        given[key] = _parse_cli_value(raw, declared[key], cwd)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise UsageError("\n".join(_unknown(name, spec_path.stem, declared) for name in unknown))
    checked = {name: _check_type(declared[name], value) for name, value in given.items()}
    _check_rules(declared, checked, check)
    return checked


def _unknown(name: str, pipeline: str, declared: dict[str, Parameter]) -> str:
    """An unknown name, the closest declared one if any, and where the names are listed."""
    close = difflib.get_close_matches(name, list(declared), n=1)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown parameter {name!r} for pipeline {pipeline}{guess} "
        f"(`kfp-mlops params {pipeline}` lists them)"
    )


def _check_rules(declared: dict[str, Parameter], checked: dict[str, Any], check=problems) -> None:
    """Refuse values that break a parameter rule, every problem at once, before any task runs."""
    defaults = {name: p.default for name, p in declared.items() if p.default is not None}
    # Defaults too: a rule may join two parameters (hyperparameters depend on the estimator).
    found = check(defaults | checked, defaults)
    if len(found) == 1:
        raise UsageError(found[0])
    if found:
        raise UsageError(
            f"{len(found)} parameters are invalid:\n" + "\n".join(f"  - {f}" for f in found)
        )
