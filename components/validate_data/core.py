"""Validate a table with Great Expectations 1.x and summarise the result for a human."""

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from components._shared.errors import ConfigError, DataError
from components._shared.reports.markdown import markdown_table, md_text
from components.validate_data.suite import load_suite


@dataclass(frozen=True)
class Check:
    """One evaluated expectation, reduced to what a reader needs."""

    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    examples: tuple[Any, ...]  # a few distinct unexpected values, nulls left out
    observed: Any
    error: str | None
    description: str | None

    def reason(self) -> str:
        """One line saying what this expectation found, e.g. `...(risk): 3 unexpected`."""
        head = f"{self.expectation}({self.column})" if self.column else self.expectation
        if self.error:
            found = f"raised: {self.error}"
        elif self.unexpected_count is not None:
            found = f"{self.unexpected_count} unexpected"
            found += f", e.g. {list(self.examples)}" if self.examples else ""
        elif self.observed is not None:
            found = f"observed {_short(self.observed)}"
        else:
            found = "failed" if not self.success else "passed"
        return f"{head}: {found}" + (f" — {self.description}" if self.description else "")


@dataclass(frozen=True)
class Validation:
    """The outcome of validating one table against one suite."""

    success: bool
    suite_name: str
    suite_sha256: str
    rows: int
    columns: int
    evaluated: int
    failed: int
    success_percent: float
    checks: tuple[Check, ...]
    result: dict[str, Any]  # the GX validation result, as JSON

    @property
    def reasons(self) -> list[str]:
        """One line per failed expectation."""
        return [c.reason() for c in self.checks if not c.success]

    def failure_message(self) -> str:
        """The error a failed run raises: the failed expectations and their unexpected counts."""
        return (
            f"data failed validation against suite {self.suite_name!r}: {self.failed} of "
            f"{self.evaluated} expectations failed: {'; '.join(self.reasons)}. Fix the data or "
            "the suite; the validation result and report artifacts hold the details"
        )

    def markdown(self) -> str:
        """A short report for the Kubeflow UI: verdict first, then every expectation."""
        lines = [
            f"# Data validation: {'PASSED' if self.success else 'FAILED'}",
            "",
            f"Suite {md_text(self.suite_name)} (sha256 `{self.suite_sha256[:12]}`) on "
            f"{self.rows} rows x {self.columns} columns: {self.evaluated - self.failed} of "
            f"{self.evaluated} expectations passed ({self.success_percent:.1f}%).",
        ]
        if self.reasons:
            lines += ["", "## Failed", "", *[f"- {md_text(r)}" for r in self.reasons]]
        rows = [
            (c.expectation, c.column, c.success, c.unexpected_count, _short(c.error or c.observed))
            for c in self.checks
        ]
        headers = ("expectation", "column", "success", "unexpected", "observed")
        lines += ["", "## Expectations", "", markdown_table(headers, rows)]
        return "\n".join(lines)


def _short(value: Any, limit: int = 80) -> Any:
    """Keep table cells readable: long messages and observed lists are cut."""
    if not isinstance(value, str | list | dict):
        return value
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _exception_message(info: dict[str, Any]) -> str | None:
    # GX nests the exception under metric ids when a metric failed to compute.
    entries = [info, *(v for v in info.values() if isinstance(v, dict))]
    for entry in entries:
        if str(entry.get("raised_exception")).lower() == "true":
            return entry.get("exception_message") or "an exception (see the validation result)"
    return None


def _named_columns(kwargs: dict[str, Any]) -> list[str]:
    """The columns an expectation reads (table-level sets like column_set are data checks)."""
    named = [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")]
    named += list(kwargs.get("column_list") or [])
    return [str(c) for c in named if c is not None]


def _check(result: dict[str, Any], columns: list[str]) -> Check:
    config = result["expectation_config"]
    kwargs = config.get("kwargs", {})
    named = _named_columns(kwargs)
    column = ", ".join(named) if named else None
    error = _exception_message(result.get("exception_info") or {})
    absent = [c for c in named if c not in columns]
    if error and absent:  # GX's own words name no way out
        error = (
            f"column(s) {absent} not in the data, which has columns {columns}; fix the "
            "column name in the suite, or the data"
        )
    found = result.get("result") or {}
    examples: list[Any] = []  # values may be unhashable (lists), so no set
    for value in found.get("partial_unexpected_list") or []:
        if value is not None and value not in examples:
            examples.append(value)
    return Check(
        expectation=config["type"],
        column=column,
        success=bool(result["success"]),
        unexpected_count=found.get("unexpected_count"),
        examples=tuple(examples[:3]),
        observed=found.get("observed_value"),
        error=error,
        description=config.get("description"),
    )


def _run_gx(frame: pd.DataFrame, gx_suite: Any) -> dict[str, Any]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("pipeline").add_dataframe_asset("dataset")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )
    return batch.validate(gx_suite, result_format="SUMMARY").to_json_dict()


def validate(
    frame: pd.DataFrame,
    target_column: str,
    suite: dict[str, Any] | None = None,
    min_rows: int = 1,
) -> Validation:
    """Validate a table against a GX suite; with no suite, against the baseline checks.

    The baseline: at least `min_rows` rows, the target never null and with at least 2 classes,
    no column entirely null. The target must exist in every case (checked before GX runs).

    Args:
        frame: The table.
        target_column: The label column; it must be a column of `frame`.
        suite: A GX 1.x suite in its JSON form (`{"name": ..., "expectations": [{"type":
            ..., "kwargs": {...}}, ...]}`); empty (or with no expectations) for the baseline.
        min_rows: The baseline's minimum row count (not used when a suite is given).

    Returns:
        The outcome; `success` is False when any expectation failed (this does not raise).

    Raises:
        DataError: The target column is not in the table.
        ConfigError: The suite is malformed (names the bad expectation) or min_rows < 1.
    """
    # GX 1.24 sends no usage data; the switch keeps a future GX that does so silent.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if target_column not in frame.columns:
        raise DataError(
            f"target column {target_column!r} is not in the data; available columns: "
            f"{[str(c) for c in frame.columns]}; set target_column to one of them"
        )
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ConfigError(f"min_rows must be an integer >= 1, got {min_rows!r}")
    effective = load_suite(suite, [str(c) for c in frame.columns], target_column, min_rows)
    result = _run_gx(frame, effective.gx_suite)
    stats = result["statistics"]
    return Validation(
        success=bool(result["success"]),
        suite_name=effective.name,
        suite_sha256=effective.sha256,
        rows=len(frame),
        columns=len(frame.columns),
        evaluated=int(stats["evaluated_expectations"]),
        failed=int(stats["unsuccessful_expectations"]),
        success_percent=float(stats["success_percent"] or 0.0),
        checks=tuple(_check(r, [str(c) for c in frame.columns]) for r in result["results"]),
        result=result,
    )
