"""What the drift gate finds: one result per column, and the dataset verdict behind them."""

from dataclasses import dataclass

from components._shared.reports.charts import Distribution
from components.detect_drift.scan import EXACT

TESTED, SKIPPED, SCHEMA_CHANGE = "tested", "skipped", "schema_change"


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test, score and verdict, with the data-quality facts beside it."""

    column: str
    status: str  # TESTED, SKIPPED (no verdict) or SCHEMA_CHANGE (counts as drifted)
    drifted: bool
    reference_null_share: float  # nulls and non-finite numbers, dropped before the test
    current_null_share: float
    reference_non_finite_share: float  # ±inf in numeric columns (part of the above; NaN is null)
    current_non_finite_share: float
    column_type: str | None = None  # NUMERICAL or CATEGORICAL, from the current data
    method: str | None = None
    score: float | None = None
    threshold: float | None = None
    unseen_categories: tuple[str, ...] = ()  # current values absent from the reference
    unseen_count: int = 0
    reason: str | None = None
    # 0 for an exact score; else the largest possible |score - exact score| (None: unknown).
    error_bound: float | None = 0.0
    # Reference vs current shares (bounded bins or top categories) for the report's chart.
    distribution: Distribution | None = None


@dataclass(frozen=True)
class DriftResult:
    """The dataset verdict and the per-column results behind it."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float  # drifted ÷ compared columns
    drift_share_threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    mode: str = EXACT  # how the data was read: scan.EXACT or scan.STREAMING
    prediction: ColumnDrift | None = None  # the model's output, when a model was given

    @property
    def compared(self) -> tuple[ColumnDrift, ...]:
        """Columns with a verdict (tested or schema change)."""
        return tuple(c for c in self.columns if c.status != SKIPPED)

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns."""
        return [c.column for c in self.columns if c.drifted]

    @property
    def reasons(self) -> list[str]:
        """Why the dataset did (or did not) drift, in words."""
        share = (
            f"{len(self.drifted_columns)} of {len(self.compared)} columns drifted "
            f"(share {self.drift_share:.2f}, dataset drift at ≥ {self.drift_share_threshold:g})"
        )
        details = [f"{c.column!r}: {c.reason}" for c in self.columns if c.reason]
        return [share, *details]
