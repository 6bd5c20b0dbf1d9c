"""What a sharded drift run's plan, map and reduce tasks share: the plan file, where states go.

The tasks themselves are components/plan_drift_shards, drift_shard and merge_drift_states;
the statistics are state.py and finalize.py, as in the one-pod path.
"""

import json
from pathlib import Path

from components._shared.errors import ConfigError, DataError
from components._shared.verdicts.gate_records import gates_prefix, in_fleet
from components.detect_drift import state

STATE_FILE = "state.npz"  # in each map task's artifact folder, beside its sha256 sidecar


def readable_uri(uri: str) -> str:
    """An artifact URI the readers take: KFP's `minio://` is S3 under another name."""
    return "s3://" + uri.removeprefix("minio://") if uri.startswith("minio://") else uri


def plan_of(path: str) -> tuple[dict, state.Plan]:
    """The plan artifact's document and its Plan, the fingerprint checked."""
    document = json.loads(Path(path).read_text())
    plan = state.Plan.from_json(document["plan"])
    if plan.fingerprint != document["fingerprint"]:
        raise DataError(
            f"drift plan {path} does not match its fingerprint ({plan.fingerprint[:12]} vs "
            f"{document['fingerprint'][:12]}); run the plan task again"
        )
    return document, plan


def state_prefix(kfp_run_id: str, fingerprint: str, model_name: str = "") -> str:
    """The run-scoped S3 prefix the map tasks write to and the reduce lists (fan_in "s3").

    In a fleet run (one run id, many models) the prefix is the model's own.
    """
    if not kfp_run_id:
        raise ConfigError("fan_in='s3' needs the run id (kfp_run_id) to scope the states")
    scope = gates_prefix(kfp_run_id, model_name if in_fleet() else "")
    return scope.removesuffix("gates/") + f"drift-states/{fingerprint[:16]}/"
