"""Time log + register alone: the register_model core on the artifacts of a finished run.

Usage: python -m benchmarks.register RUN_DIR REPEATS  (prints one wall time per repeat, s)
"""

import sys
import time
import uuid
from pathlib import Path

from components._shared.io import read_parquet
from components.register_model.core import Candidate, register_model
from kfp_mlops.runs.outputs import task_outputs


def main(run_dir: str, repeats: str) -> None:
    """Register the run's model `repeats` times under fresh run ids; print each wall time."""
    outputs = task_outputs(Path(run_dir))
    model = outputs["train-model"]["artifacts"]["model"]
    dataset = outputs["load-data"]["artifacts"]["dataset"]
    features = list(model["metadata"]["feature_columns"])
    for _ in range(int(repeats)):
        candidate = Candidate(
            model_path=model["uri"],
            model=model["metadata"],
            dataset=dataset["metadata"],
            validation={"success": True, "suite_sha256": "benchmark"},
            evaluation=outputs["evaluate-model"]["artifacts"]["report"]["metadata"],
            fairness=outputs["check-fairness"]["artifacts"]["report"]["metadata"],
            evaluation_blessed=True,
            fairness_blessed=True,
            parameters={"benchmark": True},
            kfp_run_id=f"bench-{uuid.uuid4().hex[:12]}",
            sample=read_parquet(dataset["uri"])[features].head(5),
        )
        start = time.perf_counter()
        register_model(candidate, model_name="bench-register", promote=False)
        print(f"seconds={time.perf_counter() - start:.3f}")  # MLflow prints to stdout too


if __name__ == "__main__":
    main(*sys.argv[1:])
