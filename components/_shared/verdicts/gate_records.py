"""Each gate's verdict of a run, kept in S3 so the run's exit handler can report them all.

KFP does not let an exit task read the outputs of the tasks it guards, so every gate also
writes one small JSON record, `<runs prefix><kfp run id>/gates/<gate>.json`
(prefix: KFP_MLOPS_RUNS_URI, default s3://kfp-mlops-data/runs/), and the `notify` step reads
them back by run id. A record is a report, never a verdict source: a gate whose record cannot
be written warns and keeps its verdict.

In a fleet run (pipelines/monitoring_fleet.py) many models share one run id: its per-model
tasks carry KFP_MLOPS_FLEET=1, and their records go to
`<runs prefix><kfp run id>/models/<model>/gates/<gate>.json`, where the fleet report reads them.
"""

import io
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from components._shared.redact import redact

RUNS_URI_ENV = "KFP_MLOPS_RUNS_URI"
DEFAULT_RUNS_URI = "s3://kfp-mlops-data/runs/"
# Set on the tasks of a fleet run's per-model bodies: records are kept per model.
FLEET_ENV = "KFP_MLOPS_FLEET"
# Display order of the gates in a notification.
GATE_ORDER = (
    "drift",
    "live_performance",
    "live_comparison",
    "novelty",
    "validation",
    "evaluation",
    "fairness",
    "deploy",
)


@dataclass(frozen=True)
class GateRecord:
    """One gate's verdict in one run.

    Attributes:
        gate: validation, evaluation, fairness, drift, live_performance, live_comparison,
            novelty or deploy.
        passed: True blessed / no drift / within bounds.
        line: One line for people ("accuracy 0.78 ≥ 0.70, roc_auc 0.80 ≥ 0.70").
        model: The registered model's name.
        pipeline: The pipeline the gate ran in.
        time: When the gate decided (ISO 8601, UTC).
        metrics: The few numbers a fleet report shows (drift: drift_share); may be empty.
    """

    gate: str
    passed: bool
    line: str
    model: str = ""
    pipeline: str = ""
    time: str = ""
    metrics: dict = field(default_factory=dict)


def runs_uri() -> str:
    """Where run records live (ends with /)."""
    uri = os.environ.get(RUNS_URI_ENV, "").strip() or DEFAULT_RUNS_URI
    return uri if uri.endswith("/") else uri + "/"


def in_fleet() -> bool:
    """True in a task of a fleet run's per-model body (KFP_MLOPS_FLEET=1)."""
    return os.environ.get(FLEET_ENV, "").strip() == "1"


def gates_prefix(kfp_run_id: str, model: str = "") -> str:
    """Where a run's records live: the run's own, or one model's of a fleet run."""
    scope = f"models/{_safe(model)}/" if model else ""
    return f"{runs_uri()}{_safe(kfp_run_id)}/{scope}gates/"


def record_uri(kfp_run_id: str, gate: str, model: str = "") -> str:
    """The S3 URI of one gate's record in one run (of one model, in a fleet run)."""
    return f"{gates_prefix(kfp_run_id, model)}{_safe(gate)}.json"


def write_gate_record(kfp_run_id: str, record: GateRecord) -> bool:
    """Store a gate's record (replacing the same gate's earlier one).

    Returns False, with a warning, when no run id is known or S3 refuses.
    """
    from components._shared.io.s3 import parse_s3_uri, s3_client

    if not kfp_run_id:
        return False
    if not record.time:
        record = GateRecord(**{**asdict(record), "time": datetime.now(UTC).isoformat()})
    # Lines quote gate reasons, which can echo a service URI or a library's message.
    record = GateRecord(**{**asdict(record), "line": redact(record.line)})
    uri = record_uri(kfp_run_id, record.gate, record.model if in_fleet() else "")
    body = json.dumps(asdict(record), sort_keys=True).encode()
    try:
        bucket, key = parse_s3_uri(uri)
        client = s3_client()
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
        client.put_object(bucket, key, io.BytesIO(body), len(body), content_type="application/json")
    except Exception as exc:  # a report, never a verdict: warn and go on
        print(f"warning: gate record not written to {uri}: {redact(exc)}", file=sys.stderr)
        return False
    return True


def read_gate_records(kfp_run_id: str, model: str = "") -> list[GateRecord]:
    """Every gate record of a run (of one model of a fleet run), in GATE_ORDER.

    Unreadable records are skipped with a warning.
    """
    from components._shared.io.s3 import parse_s3_uri, s3_client

    prefix_uri = gates_prefix(kfp_run_id, model)
    bucket, prefix = parse_s3_uri(prefix_uri)
    client = s3_client()
    records = []
    for item in client.list_objects(bucket, prefix=prefix):
        if not item.object_name.endswith(".json"):
            continue
        try:
            response = client.get_object(bucket, item.object_name)
            try:
                facts = json.loads(response.read(64 << 10))
            finally:
                response.close()
                response.release_conn()
            records.append(GateRecord(**{k: facts[k] for k in asdict(_EMPTY) if k in facts}))
        except Exception as exc:
            where = f"s3://{bucket}/{item.object_name}"
            print(f"warning: unreadable gate record {where}: {redact(exc)}", file=sys.stderr)
    rank = {gate: i for i, gate in enumerate(GATE_ORDER)}
    return sorted(records, key=lambda r: (rank.get(r.gate, len(rank)), r.gate))


_EMPTY = GateRecord(gate="", passed=False, line="")


def _safe(part: str) -> str:
    """A run id or gate name as one path segment (no slashes or dot-dot)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in part).strip(".")
    return cleaned or "unknown"
