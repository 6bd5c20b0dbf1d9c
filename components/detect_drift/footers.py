"""Fix a drift plan's edges from Parquet footers, before any row is read.

Row-group statistics (min, max, null count) of both sides give each numerical column's
range and value count, so one pass can count facts and histograms together. A column whose
statistics are missing in any row group, or whose min/max is not finite (±inf in the data),
gets no range here: the first pass finds it (`finalize.Outcome.grid_ranges`), as in the
one-pod path. NaN is not in Parquet's statistics: a column with NaN has fewer finite values
than the footers say, so its Sturges edges may come out different; finalize compares the
edges it would use with the planned ones and plans that column again instead of scoring it.
"""

import math
from collections.abc import Iterable

import pyarrow.parquet as pq

from components.detect_drift.finalize import Rules
from components.detect_drift.state import Plan, with_ranges
from components.detect_drift.stattests import AUTO


def column_ranges(files: Iterable, names: list[str]) -> dict[str, tuple[float, float, int]]:
    """(min, max, non-null values) per column from the footers of `files`.

    `files`: paths or pyarrow ParquetFiles. A column with unusable statistics in any row group
    (missing, not numbers, not finite) is left out.
    """
    found: dict[str, list] = {}
    unusable: set[str] = set()
    for file in files:
        meta = (file if isinstance(file, pq.ParquetFile) else pq.ParquetFile(file)).metadata
        index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            for name in names:
                stats = row_group.column(index[name]).statistics if name in index else None
                if stats is None or not stats.has_min_max or stats.null_count is None:
                    unusable.add(name)
                    continue
                try:
                    low, high = float(stats.min), float(stats.max)
                except (TypeError, ValueError):  # text, booleans: no numeric range
                    unusable.add(name)
                    continue
                if not (math.isfinite(low) and math.isfinite(high)):
                    unusable.add(name)
                    continue
                values = row_group.num_rows - stats.null_count
                seen = found.setdefault(name, [low, high, 0])
                seen[0], seen[1], seen[2] = min(seen[0], low), max(seen[1], high), seen[2] + values
    return {n: tuple(v) for n, v in found.items() if n not in unusable}


def plan_from_footers(plan: Plan, reference, current, rules: Rules) -> Plan:
    """`plan` with grids fixed for the numerical columns both sides' footers describe.

    The test named for a column decides the exact edges (Sturges for JS/PSI/KL, Hellinger's);
    under "auto" a column with too many distinct values to count gets Wasserstein or KS, which
    need only the grid.
    """
    names = [n for n, c in plan.columns.items() if all(k[0] == "numeric" for k in c.kinds)]
    ref, cur = column_ranges(reference, names), column_ranges(current, names)
    ranges = {}
    for name in names:
        if name in ref and name in cur:
            method = rules.per_column_methods.get(name, rules.method)
            low, high = min(ref[name][0], cur[name][0]), max(ref[name][1], cur[name][1])
            test = "wasserstein" if method == AUTO else method
            ranges[name] = (low, high, ref[name][2] + cur[name][2], test)
    return with_ranges(plan, ranges)
