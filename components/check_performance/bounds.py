"""One live-performance bound held over the judged days: passed, failed or not judged, and why."""

from dataclasses import dataclass
from datetime import date

# A bound's status: held, below it for min_days judged days, or too few days with a value.
PASSED, FAILED, NOT_JUDGED = "passed", "failed", "not_judged"


@dataclass(frozen=True)
class MetricCheck:
    """One bounded metric: its recent values, how long it has stayed below, and its status."""

    metric: str
    bound: float  # a minimum: every metric is higher-is-better
    last_day: date | None  # the last judged day with a value
    last_day_value: float | None
    window_value: float | None
    days_below: int  # consecutive judged days below the bound, counted back from the last
    failed: bool  # days_below >= min_days
    status: str  # PASSED, FAILED or NOT_JUDGED
    reason: str  # why that status, one sentence that names the metric
    days_with_value: int  # judged days on which the metric could be computed
    days_without_value: int  # judged days on which it could not (undefined there)


def _status(
    metric: str,
    bound: float,
    n: int,
    valued: list,
    below: int,
    min_days: int,
    min_labels: int,
    why: str,
) -> tuple[str, str]:
    """The bound's status and its reason; n judged days, `valued` those with a value."""
    k = len(valued)
    if below >= min_days:
        last = valued[-1]
        return FAILED, (
            f"{metric} below {bound:g} on each of the last {below} judged days "
            f"(min_days {min_days}); last day {last.day}: {last.values[metric]:.4f}"
        )
    if n < min_days:
        gaps = f"; it could not be computed on {n - k} of them ({why})" if k < n else ""
        return NOT_JUDGED, (
            f"{metric} not judged: only {n} day(s) have >= {min_labels} labels "
            f"(min_labels_per_day) and a bound needs {min_days} judged days (min_days){gaps}"
        )
    if k < min_days:
        some = (
            f"on only {k} of the {n} judged days ({why}) and a bound needs {min_days} (min_days)"
            if k
            else f"on any of the {n} judged days ({why})"
        )
        return NOT_JUDGED, (
            f"{metric} could not be computed {some}: not judged, refusing to pass (fail closed)"
        )
    last = valued[-1]
    value = f"last day {last.day}: {last.values[metric]:.4f}"
    if below:
        return PASSED, (
            f"{metric} below {bound:g} on the last {below} judged day(s), fewer than "
            f"min_days {min_days}; {value}"
        )
    return PASSED, f"{metric} at or above {bound:g}; {value}"


def check_bound(
    metric: str,
    bound: float,
    judged: list,
    window_value: float | None,
    min_days: int,
    min_labels_per_day: int,
    why: str,
) -> MetricCheck:
    """Hold one metric to its minimum over the judged days, counting back from the last.

    Days on which the metric is undefined neither break nor extend the run below. A bound
    is not judged when fewer than `min_days` judged days give its metric a value.

    Args:
        metric: The metric's name.
        bound: Its minimum.
        judged: The judged days (core.DayPerformance), oldest first.
        window_value: The metric over the whole window.
        min_days: Judged days in a row below the bound that fail it.
        min_labels_per_day: Labels a day needs to be judged (for the reason's text).
        why: Why the metric has no value on the days it has none ("" when it always has).
    """
    valued = [d for d in judged if d.values.get(metric) is not None]
    below = 0
    for d in reversed(valued):
        if d.values[metric] >= bound:
            break
        below += 1
    status, reason = _status(
        metric, bound, len(judged), valued, below, min_days, min_labels_per_day, why
    )
    last = valued[-1] if valued else None
    return MetricCheck(
        metric=metric,
        bound=bound,
        last_day=last.day if last else None,
        last_day_value=last.values[metric] if last else None,
        window_value=window_value,
        days_below=below,
        failed=below >= min_days,
        status=status,
        reason=reason,
        days_with_value=len(valued),
        days_without_value=len(judged) - len(valued),
    )
