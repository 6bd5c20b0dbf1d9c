"""Run Evidently's DataDriftPreset on two Parquet files; write per-column verdicts as JSON.

Runs inside .venv-evidently (pandas < 3), so it must not import this repository's packages.
Usage: .venv-evidently/bin/python benchmarks/evidently/run_evidently.py REF CUR OUT.json
"""

import json
import resource
import sys
import time

# Evidently's display names of its tests, mapped to the names our registry uses.
METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
    "Kullback-Leibler divergence": "kl_div",
    "Hellinger distance": "hellinger",
}


def _columns(snapshot: dict) -> dict:
    scores = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            method = METHODS.get(config["method"], config["method"])
            scores[metric["id"]] = (config["column"], method, float(metric["value"]))
    columns = {}
    for test in snapshot["tests"]:
        fingerprint = test.get("bound_test", {}).get("metric_fingerprint")
        if fingerprint in scores:
            name, method, score = scores[fingerprint]
            # The per-column test fails exactly when Evidently calls the column drifted.
            columns[name] = {"method": method, "score": score, "drifted": test["status"] == "FAIL"}
    return columns


def main(reference_path: str, current_path: str, out_path: str) -> None:
    """Read both files, run the preset with per-column tests, write the verdicts."""
    start = time.perf_counter()
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    report = Report([DataDriftPreset()], include_tests=True)
    snapshot = report.run(current, reference).dict()  # current first
    result = {
        "tool": "evidently",
        "columns": _columns(snapshot),
        "wall_s": time.perf_counter() - start,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    with open(out_path, "w") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
