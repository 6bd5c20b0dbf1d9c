"""The validation gate's figures for the Pushgateway and its one-line verdict record."""

from components._shared.verdicts.gate_records import GateRecord
from components._shared.verdicts.pushgateway import GateFigures
from components.validate_data.core import Validation

GATE = "validation"
# Failed expectations quoted in the record's line; the report lists them all.
MAX_REASONS_IN_LINE = 3


def figures_of(
    result: Validation, model: str, duration_seconds: float | None = None
) -> GateFigures:
    """The verdict and the counts behind it (no bounds: every expectation must pass)."""
    return GateFigures(
        gate=GATE,
        model=model,
        passed=result.success,
        metrics={
            "expectations_evaluated": float(result.evaluated),
            "expectations_failed": float(result.failed),
            "success_ratio": result.success_percent / 100.0,  # base unit: a ratio
            "rows": float(result.rows),
        },
        duration_seconds=duration_seconds,
    )


def line_of(result: Validation) -> str:
    """One sentence for people: how many expectations held, on how many rows, which failed."""
    head = (
        f"{result.evaluated - result.failed} of {result.evaluated} expectations passed on "
        f"{result.rows} rows (suite {result.suite_name})"
    )
    if result.success:
        return head
    shown = result.reasons[:MAX_REASONS_IN_LINE]
    more = len(result.reasons) - len(shown)
    tail = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    return f"{head}; failed: {tail}"


def record_of(result: Validation, model: str, pipeline: str = "") -> GateRecord:
    """The verdict record the run's notification reads."""
    return GateRecord(
        gate=GATE, passed=result.success, line=line_of(result), model=model, pipeline=pipeline
    )
