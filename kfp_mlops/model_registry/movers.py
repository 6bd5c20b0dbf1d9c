"""Who moved an alias, in words a reader understands: the pipeline and its run, or the person.

register_model records the KFP run id as the mover of the aliases it moves; rollback records
the person. A run id alone says nothing to a reader, so `history` looks the run up in the gate
records every run writes (components/_shared/verdicts/gate_records.py): the pipeline of the
run's first gate (drift for a monitoring run, validation for a training run) is the pipeline
the run was started as. A mover without gate records (a person, or a run whose records are
gone) is shown as recorded. The bare run id stays in the words, and on the version it
registered (its `kfp_run_id` tag).
"""

UNNAMED = ("", "unknown")  # a gate that ran outside a pipeline names none


def run_pipeline(records) -> str | None:
    """The pipeline a run was started as: its first gate's pipeline (None: none named)."""
    named = [r.pipeline for r in records if r.pipeline not in UNNAMED]
    return named[0] if named else None


def describe(who: str, pipeline: str | None) -> str:
    """`who` as history shows it: "PIPELINE pipeline run ID", or as recorded (no pipeline)."""
    return who if pipeline is None else f"{pipeline} pipeline run {who}"


def with_movers(moves: list[dict]) -> list[dict]:
    """The moves with each mover described (each distinct mover looked up once).

    S3 that does not answer leaves the recorded movers as they are: the trail is still worth
    printing without the lookup. It is not asked again for the next mover after it failed
    once: each try waits out the S3 client's timeouts and retries (seconds), so a long trail
    would otherwise cost that many times over.
    """
    from components._shared.verdicts.gate_records import read_gate_records

    described: dict[str, str] = {}
    asking = True
    for who in dict.fromkeys(move["who"] for move in moves):
        pipeline = None
        if who and asking:
            try:
                pipeline = run_pipeline(read_gate_records(who))
            except Exception:
                asking = False
        described[who] = describe(who, pipeline)
    return [move | {"who": described[move["who"]]} for move in moves]
