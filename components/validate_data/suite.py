"""The suite to validate with: a GX 1.x suite checked one expectation at a time, or a baseline."""

import difflib
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from components._shared.errors import ConfigError

BASELINE_NAME = "baseline"
DEFAULT_SUITE_NAME = "user_suite"
SUITE_KEYS = ("name", "expectations", "id", "meta", "notes", "suite_parameters")
EXPECTATION_KEYS = ("type", "kwargs", "meta", "notes", "description", "severity", "id")
# `mostly` must be > 0 for "not entirely null": any value present in < 1e12 rows passes.
ANY_VALUE = 1e-12


@dataclass(frozen=True)
class Suite:
    """The effective suite: its JSON form (what is hashed), its hash and the GX object."""

    name: str
    spec: dict[str, Any]
    sha256: str
    gx_suite: Any  # great_expectations.ExpectationSuite, typed loosely to keep GX's import lazy


def _integral(value: Any) -> Any:
    """Whole floats back to ints.

    A KFP dict parameter travels as a protobuf Struct, which turns every number into a float;
    neither the suite hash nor GX's kwargs checks may depend on that trip.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def canonical_sha256(suite: dict[str, Any]) -> str:
    """The sha256 of a suite's canonical JSON: whole numbers as ints, sorted keys, no spaces."""
    text = json.dumps(_integral(suite), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def baseline_suite(columns: list[str], target_column: str, min_rows: int) -> dict[str, Any]:
    """The checks every training table needs, as a GX suite (one result format for all)."""

    def expect(type_: str, description: str, **kwargs: Any) -> dict[str, Any]:
        return {"type": type_, "kwargs": kwargs, "description": description}

    target = target_column
    return {
        "name": BASELINE_NAME,
        "expectations": [
            expect(
                "expect_table_row_count_to_be_between",
                f"the table needs at least min_rows={min_rows} rows",
                min_value=min_rows,
            ),
            expect(
                "expect_column_values_to_not_be_null",
                f"every row needs a value of the target {target!r}",
                column=target,
            ),
            expect(
                "expect_column_unique_value_count_to_be_between",
                f"the target {target!r} needs at least 2 classes to train a classifier",
                column=target,
                min_value=2,
            ),
            *[
                expect(
                    "expect_column_values_to_not_be_null",
                    f"column {c!r} is entirely null; drop it or fix its source",
                    column=c,
                    mostly=ANY_VALUE,
                )
                for c in columns
                if c != target
            ],
        ],
    }


def _pydantic_problems(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())


def _build_expectation(index: int, item: Any, valid_types: list[str]) -> Any:
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    where = f"suite expectation #{index}"
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise ConfigError(
            f'{where} is {item!r}; expected {{"type": "expect_...", "kwargs": {{...}}}}'
        )
    type_ = item["type"]
    where = f"{where} ({type_})"
    if type_ not in valid_types:
        close = difflib.get_close_matches(type_, valid_types, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{where}: unknown expectation type {type_!r}; {hint}expected one of {valid_types}"
        )
    extra = sorted(set(item) - set(EXPECTATION_KEYS))
    if extra or not isinstance(item.get("kwargs", {}), dict):
        raise ConfigError(
            f"{where}: unexpected keys {extra} or non-dict kwargs; an expectation has keys "
            f"{list(EXPECTATION_KEYS)} and kwargs is a dict"
        )
    try:
        return ExpectationConfiguration(**{"kwargs": {}, **item}).to_domain_obj()
    except Exception as exc:  # GX raises pydantic ValidationError or its own config errors
        raise ConfigError(
            f"{where} has invalid kwargs {item.get('kwargs', {})}: {_pydantic_problems(exc)}; "
            f"see the GX gallery entry for {type_} for its arguments"
        ) from exc


def _build_suite(suite: dict[str, Any]) -> Any:
    """Turn a suite dict into a GX suite, naming the first bad expectation.

    GX itself only logs an invalid expectation and drops it from the suite, which would
    silently validate less than the user asked for; we refuse instead.
    """
    import great_expectations as gx
    from great_expectations.expectations.registry import (
        list_registered_expectation_implementations,
    )

    valid_types = sorted(list_registered_expectation_implementations())
    built = [_build_expectation(i, e, valid_types) for i, e in enumerate(suite["expectations"])]
    try:
        return gx.ExpectationSuite(
            name=suite["name"],
            expectations=built,
            meta=suite.get("meta"),
            notes=suite.get("notes"),
            suite_parameters=suite.get("suite_parameters"),
        )
    except Exception as exc:  # GX raises pydantic ValidationError or its own errors
        raise ConfigError(
            f"suite {suite['name']!r} is not a valid GX suite: {_pydantic_problems(exc)}; "
            "name is a string, meta a dict, notes a string (export one with "
            "suite.to_json_dict())"
        ) from exc


def _effective_spec(
    suite: dict[str, Any] | None, columns: list[str], target: str, min_rows: int
) -> dict[str, Any]:
    if suite is not None and not isinstance(suite, dict):
        raise ConfigError(f"suite must be a dict in GX JSON form, got {type(suite).__name__}")
    suite = suite or {}
    expectations = suite.get("expectations")
    extra = sorted(set(suite) - set(SUITE_KEYS))
    if extra or not isinstance(expectations, list | None):
        raise ConfigError(
            f"suite has unexpected keys {extra} or a non-list 'expectations'; a GX suite has "
            f"keys {list(SUITE_KEYS)} (export one with suite.to_json_dict())"
        )
    if not expectations:  # an empty suite would pass anything: use the baseline instead
        return baseline_suite(columns, target, min_rows)
    return _integral({**suite, "name": suite.get("name") or DEFAULT_SUITE_NAME})


def check_suite(suite: dict[str, Any] | None) -> None:
    """Refuse a malformed suite before any data is read; named columns are checked later.

    Raises:
        ConfigError: As `load_suite`, for the parts that need no data.
    """
    spec = _effective_spec(suite, [], "", 1)
    if suite and suite.get("expectations"):  # the baseline needs the data's columns
        _build_suite(spec)


def load_suite(
    suite: dict[str, Any] | None, columns: list[str], target_column: str, min_rows: int
) -> Suite:
    """The suite to validate with: the user's when it has expectations, else the baseline.

    Args:
        suite: A GX 1.x suite in its JSON form, or empty/None for the baseline.
        columns: The table's columns (the baseline checks each one is not entirely null).
        target_column: The label column.
        min_rows: The baseline's minimum row count.

    Returns:
        The effective suite, with the sha256 of its canonical JSON.

    Raises:
        ConfigError: The suite is not a GX suite dict, or an expectation in it is unknown or
            has invalid kwargs (named by index and type).
    """
    spec = _effective_spec(suite, columns, target_column, min_rows)
    return Suite(
        name=spec["name"],
        spec=spec,
        sha256=canonical_sha256(spec),
        gx_suite=_build_suite(spec),
    )
