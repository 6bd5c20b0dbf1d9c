"""Each gate's verdict of a run, kept in S3 so the run's exit handler can report them all.

KFP does not let an exit task read the outputs of the tasks it guards, so every gate also
writes one small JSON record, `<runs prefix><kfp run id>/gates/<gate>.json`
(prefix: KFP_MLOPS_RUNS_URI, default s3://kfp-mlops-data/runs/), and the `notify` step reads
them back by run id. A record is a report, never a verdict source: a gate whose record cannot
be written warns and keeps its verdict.
"""

import io
import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from components._shared.redact import redact

RUNS_URI_ENV = "KFP_MLOPS_RUNS_URI"
DEFAULT_RUNS_URI = "s3://kfp-mlops-data/runs/"
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
    """

    gate: str
    passed: bool
    line: str
    model: str = ""
    pipeline: str = ""
    time: str = ""


def runs_uri() -> str:
    """Where run records live (ends with /)."""
    uri = os.environ.get(RUNS_URI_ENV, "").strip() or DEFAULT_RUNS_URI
    return uri if uri.endswith("/") else uri + "/"


def record_uri(kfp_run_id: str, gate: str) -> str:
    """The S3 URI of one gate's record in one run."""
    return f"{runs_uri()}{_safe(kfp_run_id)}/gates/{_safe(gate)}.json"


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
    uri = record_uri(kfp_run_id, record.gate)
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


def read_gate_records(kfp_run_id: str) -> list[GateRecord]:
    """Every gate record of a run, in GATE_ORDER (unreadable ones skipped with a warning)."""
    from components._shared.io.s3 import parse_s3_uri, s3_client

    prefix_uri = f"{runs_uri()}{_safe(kfp_run_id)}/gates/"
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
