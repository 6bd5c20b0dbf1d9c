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


def _generators(rng: np.random.Generator, s: float) -> dict:
    """Column name -> function of the row count; `s` is how far the shifted columns move."""
    few = np.array([0.5, 1.5, 2.5, 3.5])
    return {
        # Continuous floats (numerical: KS or Wasserstein), some with nulls.
        "num_plain": lambda n: _with_nulls(rng.normal(0.0, 1.0, n), rng),
        "num_skewed": lambda n: rng.lognormal(0.0, 0.8, n),
        "num_uniform": lambda n: _with_nulls(rng.uniform(-5.0, 5.0, n), rng),
        "num_shift": lambda n: _with_nulls(rng.normal(0.5 * s, 1.0, n), rng),
        "num_scale": lambda n: rng.normal(10.0, 2.0 + 1.0 * s, n),
        # A float with 4 distinct values: numerical, but n <= 5 gives chi-square or JS.
        "num_few": lambda n: rng.choice(few, n, p=_weights(4, 1.5 * s)),
        # An integer with > 10 distinct values: numerical.
        "int_wide": lambda n: rng.integers(18, 90, n),
        # Low-cardinality integers (<= 10 distinct: categorical).
        "int_small": lambda n: rng.integers(0, 10, n),
        "int_counts": lambda n: rng.poisson(2.0, n).clip(0, 7),
        "int_rating": lambda n: rng.choice(np.arange(1, 6), n, p=_weights(5, 1.0)),
        "int_shift": lambda n: rng.choice(np.arange(6), n, p=_weights(6, 2.0 * s)),
        # Binary integers (Z-test or JS).
        "bin_plain": lambda n: (rng.random(n) < 0.3).astype(np.int64),
        "bin_rare": lambda n: (rng.random(n) < 0.05).astype(np.int64),
        "bin_shift": lambda n: (rng.random(n) < 0.3 + 0.15 * s).astype(np.int64),
        # Categorical strings with up to 20 levels, some with nulls.
        "cat_plain": lambda n: _with_nulls(rng.choice(LEVELS, n, p=_weights(20, 3.0)), rng),
        "cat_few": lambda n: rng.choice(LEVELS[:3], n, p=[0.5, 0.3, 0.2]),
        "cat_two": lambda n: rng.choice(LEVELS[:2], n),
        "cat_mid": lambda n: _with_nulls(rng.choice(LEVELS[:8], n), rng),
        "cat_shift": lambda n: _with_nulls(rng.choice(LEVELS[:12], n, p=_weights(12, 3 * s)), rng),
        "cat_steady": lambda n: rng.choice(LEVELS[:5], n, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
    }


ALL_COLUMNS = tuple(_generators(np.random.default_rng(0), 0.0))
# The 1e8-row run: 10 of the 20, every kind represented, 5 of them shifted.
TEN_COLUMNS = (
    "num_plain", "num_skewed", "num_shift", "num_few", "int_wide",
    "int_small", "int_shift", "bin_shift", "cat_plain", "cat_shift",
)  # fmt: skip


def _chunk(rows: int, rng: np.random.Generator, shifted: bool, columns) -> pa.Table:
    generators = _generators(rng, 1.0 if shifted else 0.0)
    return pa.table({name: generators[name](rows) for name in columns})


def write_side(path: Path, rows: int, seed: int, shifted: bool, columns=ALL_COLUMNS) -> Path:
    """Write `rows` rows (in row groups of at most CHUNK_ROWS) to a Parquet file."""
    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, rows, CHUNK_ROWS):
            table = _chunk(min(CHUNK_ROWS, rows - start), rng, shifted, columns)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path


def write_pair(folder: Path, rows: int, seed: int = 0, columns=ALL_COLUMNS) -> tuple[Path, Path]:
    """A reference and a current file of `rows` rows each; SHIFTED columns move in current."""
    folder.mkdir(parents=True, exist_ok=True)
    reference = write_side(folder / "reference.parquet", rows, seed, False, columns)
    current = write_side(folder / "current.parquet", rows, seed + 1, True, columns)
    return reference, current


def write_parts(
    folder: Path, rows: int, seed: int, shifted: bool, columns=TEN_COLUMNS, part_rows: int = 0
) -> Path:
    """`rows` rows as a folder of Parquet parts of `part_rows` rows each (default: 10 parts)."""
    folder.mkdir(parents=True, exist_ok=True)
    part_rows = part_rows or -(-rows // 10)
    rng = np.random.default_rng(seed)
    for n, start in enumerate(range(0, rows, part_rows)):
        with pq.ParquetWriter(
            folder / f"part-{n:05d}.parquet", _chunk(1, rng, False, columns).schema
        ) as writer:
            for first in range(start, min(rows, start + part_rows), CHUNK_ROWS):
                count = min(CHUNK_ROWS, rows - first, start + part_rows - first)
                writer.write_table(_chunk(count, rng, shifted, columns))
    return folder
