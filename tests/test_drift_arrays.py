"""The drift path's Arrow → NumPy conversion: the values `to_numpy` gives, without pandas.

pyarrow imports pandas on the first `to_numpy` call; the auto path of a whole drift run
(imports, reading, tests) takes ~1.5 s at 1e6 rows, of which that import was a quarter.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.detect_drift.sides import _numpy

REPO = Path(__file__).resolve().parent.parent

ARRAYS = {
    **{
        str(kind): pa.array([3, 1, 2, 0, 7], kind)
        for bits in (8, 16, 32, 64)
        for kind in (getattr(pa, f"int{bits}")(), getattr(pa, f"uint{bits}")())
    },
    "float32": pa.array([1.5, -2.25, 0.0], pa.float32()),
    "float64": pa.array([1.5, float("nan"), float("inf"), -0.0]),
    "sliced": pa.array(np.arange(100, dtype=np.int64)).slice(37, 20),
    "sliced float": pa.array(np.linspace(0, 1, 50)).slice(3, 9),
    "bool": pa.array([True, False, True]),
    "text": pa.array(["a", "bb", "a", ""]),
    "large text": pa.array(["x", "y"], pa.large_string()),
    "with nulls": pa.array([1.0, None, 3.0]),
    "empty": pa.array([], pa.int64()),
    "chunked": pa.chunked_array([pa.array([1, 2]), pa.array([], pa.int64()), pa.array([5])]),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_values_equal_pyarrow_to_numpy(name):
    array = ARRAYS[name]
    got, want = _numpy(array), array.to_numpy(zero_copy_only=False)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def test_a_whole_drift_run_never_imports_pandas(tmp_path):
    rng = np.random.default_rng(0)
    for side, shift in (("ref", 0.0), ("cur", 1.0)):
        pq.write_table(
            pa.table(
                {
                    "x": rng.normal(shift, 1, 5_000),
                    "n": pa.array(rng.integers(0, 50, 5_000)),
                    "small": rng.integers(0, 4, 5_000),
                    "flag": pa.array(rng.random(5_000) < 0.3),
                    "city": pa.array(rng.choice(["a", "b", None], 5_000)),
                }
            ),
            tmp_path / f"{side}.parquet",
        )
    code = (
        "import sys\n"
        "from components._shared.io.sources import open_source\n"
        "from components.detect_drift.core import detect_drift\n"
        "for mode in ('exact', 'streaming'):\n"
        f"    r = detect_drift(open_source({str(tmp_path / 'ref.parquet')!r}),\n"
        f"                     open_source({str(tmp_path / 'cur.parquet')!r}), mode=mode)\n"
        "    assert r.columns and 'x' in {c.column for c in r.columns if c.drifted}, r\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", ["int64", "float64", "int32", "uint8"])
def test_numbers_to_arrow_keep_values_and_type(dtype):
    from components.detect_drift.sides import _arrow

    values = np.arange(0, 40, 3).astype(dtype)[::2]  # a strided view: made contiguous
    got = _arrow(values)
    assert got.type == pa.from_numpy_dtype(np.dtype(dtype))
    assert got.to_pylist() == values.tolist()


WITH_NULLS = {
    "int64": pa.array([5, None, -3, None, 9], pa.int64()),
    "int32 sliced": pa.array([None, 1, 2, None, 4, 5, None, 7, 8, 9], pa.int32()).slice(3, 6),
    "float64": pa.array([1.5, None, float("nan"), None, -0.0]),
    "float sliced past a byte": pa.array(
        [None if i % 3 == 0 else i / 2 for i in range(40)], pa.float64()
    ).slice(11, 17),
    "uint8": pa.array([None, 200, 3], pa.uint8()),
    "all null": pa.array([None, None], pa.int64()),
    "dictionary indices": pa.array(["a", None, "b", "a", None, "c"])
    .dictionary_encode()
    .slice(1, 5)
    .indices,
    "bool (not from buffers)": pa.array([True, None, False]),
    "text (not from buffers)": pa.array(["x", None, "y"]),
}


@pytest.mark.parametrize("name", WITH_NULLS)
def test_non_null_values_are_what_drop_null_gives(name):
    from components.detect_drift.sides import _non_null

    array = WITH_NULLS[name]
    got, want = _non_null(array), array.drop_null().to_numpy(zero_copy_only=False)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)
