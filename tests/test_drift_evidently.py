"""Agreement of detect_drift(method="auto") with Evidently 0.7 on generated data."""

import json
import subprocess

import pandas as pd
import pytest

from benchmarks.drift import EVIDENTLY_PYTHON, EVIDENTLY_RUNNER, REPO
from benchmarks.drift_data import write_pair
from components.detect_drift.core import detect_drift
from components.detect_drift.results import TESTED

pytestmark = pytest.mark.evidently

# Unshifted columns that no test flags on these seeds (small-sample chi-square flags others).
STEADY = {"num_plain", "num_uniform", "bin_plain", "cat_two"}


def _evidently(reference, current, out) -> dict:
    if not EVIDENTLY_PYTHON.exists():
        pytest.fail(f"{EVIDENTLY_PYTHON} is missing: run `make evidently` (Evidently's own venv)")
    cmd = [str(EVIDENTLY_PYTHON), str(EVIDENTLY_RUNNER), str(reference), str(current), str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())["columns"]


@pytest.mark.parametrize(
    ("rows", "branch"),
    [
        (500, {"ks", "chisquare", "z"}),  # reference <= 1000 rows: p-value tests
        (5_000, {"wasserstein", "jensenshannon"}),  # larger reference: distances
    ],
)
def test_detect_drift_auto_agrees_with_evidently_per_column(tmp_path, rows, branch):
    reference_path, current_path = write_pair(tmp_path, rows, seed=rows)
    theirs = _evidently(reference_path, current_path, tmp_path / "evidently.json")
    result = detect_drift(pd.read_parquet(reference_path), pd.read_parquet(current_path))
    ours = {c.column: c for c in result.columns if c.status == TESTED}

    assert sorted(ours) == sorted(theirs) and len(ours) == 20
    for name, column in ours.items():
        expected = theirs[name]
        assert (name, column.method) == (name, expected["method"])
        assert (name, column.drifted) == (name, expected["drifted"])
        assert column.score == pytest.approx(expected["score"], rel=1e-9, abs=1e-12), name
    # The case is not vacuous: both branches' tests ran, and both verdicts occur.
    assert {c.method for c in ours.values()} == branch
    drifted = {name for name, c in ours.items() if c.drifted}
    assert {"num_shift", "num_scale", "int_shift", "cat_shift"} <= drifted <= set(ours) - STEADY
