"""A gate's tail, one call for every gate: push its figures, then record its verdict for notify."""

from collections.abc import Callable

from components._shared.verdicts.gate_records import GateRecord, write_gate_record
from components._shared.verdicts.pushgateway import GateFigures, pipeline_name, push_gate


def publish_verdict(
    kfp_run_id: str, figures: GateFigures, record: Callable[[str], GateRecord]
) -> None:
    """Push `figures` (when a Pushgateway is configured), then store `record(pipeline)`.

    `record` is given the name of the pipeline this task runs in. Neither step can fail the
    gate: both warn on stderr and go on (a record is a report, never a verdict source).
    """
    push_gate(figures)
    write_gate_record(kfp_run_id, record(pipeline_name()))
