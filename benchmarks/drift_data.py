"""Seeded reference/current Parquet pairs of 20 mixed columns for comparing drift tools.

Generated in chunks written as row groups, so 1e7 rows never exist as one frame. Plain
int64/float64/string columns only: Evidently skips nullable Int64/boolean columns.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_ROWS = 1_000_000
NULL_SHARE = 0.05
LEVELS = np.array([f"level_{i:02d}" for i in range(20)])
# Columns whose distribution moves in `current`; every other column keeps its distribution.
SHIFTED = frozenset({"num_shift", "num_scale", "num_few", "int_shift", "bin_shift", "cat_shift"})


def _weights(n: int, tilt: float) -> np.ndarray:
    w = np.linspace(1.0, 1.0 + tilt, n)
    return w / w.sum()


def _with_nulls(values: np.ndarray, rng: np.random.Generator) -> pa.Array:
    return pa.array(values, mask=rng.random(len(values)) < NULL_SHARE)


def _chunk(rows: int, rng: np.random.Generator, shifted: bool) -> pa.Table:
    s = 1.0 if shifted else 0.0  # how far the shifted columns move
    few = np.array([0.5, 1.5, 2.5, 3.5])
    cols = {
        # Continuous floats (numerical: KS or Wasserstein), some with nulls.
        "num_plain": _with_nulls(rng.normal(0.0, 1.0, rows), rng),
        "num_skewed": rng.lognormal(0.0, 0.8, rows),
        "num_uniform": _with_nulls(rng.uniform(-5.0, 5.0, rows), rng),
        "num_shift": _with_nulls(rng.normal(0.5 * s, 1.0, rows), rng),
        "num_scale": rng.normal(10.0, 2.0 + 1.0 * s, rows),
        # A float with 4 distinct values: numerical, but n <= 5 gives chi-square or JS.
        "num_few": rng.choice(few, rows, p=_weights(4, 1.5 * s)),
        # An integer with > 10 distinct values: numerical.
        "int_wide": rng.integers(18, 90, rows),
        # Low-cardinality integers (<= 10 distinct: categorical).
        "int_small": rng.integers(0, 10, rows),
        "int_counts": rng.poisson(2.0, rows).clip(0, 7),
        "int_rating": rng.choice(np.arange(1, 6), rows, p=_weights(5, 1.0)),
        "int_shift": rng.choice(np.arange(6), rows, p=_weights(6, 2.0 * s)),
        # Binary integers (Z-test or JS).
        "bin_plain": (rng.random(rows) < 0.3).astype(np.int64),
        "bin_rare": (rng.random(rows) < 0.05).astype(np.int64),
        "bin_shift": (rng.random(rows) < 0.3 + 0.15 * s).astype(np.int64),
        # Categorical strings with up to 20 levels, some with nulls.
        "cat_plain": _with_nulls(rng.choice(LEVELS, rows, p=_weights(20, 3.0)), rng),
        "cat_few": rng.choice(LEVELS[:3], rows, p=[0.5, 0.3, 0.2]),
        "cat_two": rng.choice(LEVELS[:2], rows),
        "cat_mid": _with_nulls(rng.choice(LEVELS[:8], rows), rng),
        "cat_shift": _with_nulls(rng.choice(LEVELS[:12], rows, p=_weights(12, 3.0 * s)), rng),
        "cat_steady": rng.choice(LEVELS[:5], rows, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
    }
    return pa.table(cols)


def write_side(path: Path, rows: int, seed: int, shifted: bool) -> Path:
    """Write `rows` rows (in row groups of at most CHUNK_ROWS) to a Parquet file."""
    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, rows, CHUNK_ROWS):
            table = _chunk(min(CHUNK_ROWS, rows - start), rng, shifted)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path


def write_pair(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A reference and a current file of `rows` rows each; SHIFTED columns move in current."""
    folder.mkdir(parents=True, exist_ok=True)
    reference = write_side(folder / "reference.parquet", rows, seed, shifted=False)
    current = write_side(folder / "current.parquet", rows, seed + 1, shifted=True)
    return reference, current
