"""The reduce of a sharded drift run: every shard's state checked, merged per side, decided.

States come from the map tasks' artifacts (`dsl.Collected`) or, with fan_in "s3", from the
run-scoped prefix the map tasks also wrote to. Each is read with its sha256 checked
(state_io.load), must be of the planned fingerprint, and each side must have exactly the
planned number of shards, each once: a missing, extra or stale shard fails the run rather
than deciding on part of the data.

After the merge, `detect_drift.core.finish` completes the verdicts as the one-pod path does:
- columns the footers could not range (`Outcome.grid_ranges`: text-typed numbers, ±inf, NaN
  that moved the Sturges edges) get their grid counted here, in a second streamed pass over
  those columns only (bounded memory; time ∝ rows x those columns);
- columns whose approximate score lies within its bound of the threshold
  (`needs_refinement`) are re-scored exactly here while they fit exact mode's memory
  (rows x columns ≤ scan.EXACT_MAX_CELLS), as the one-pod path does, so both paths give the
  same verdict; beyond, the column's reason says the verdict could go either way.
A second map round for those would cost 2 x K more pods and another reduce for what is, in
practice, a handful of columns: not worth it at K ≤ 64.
"""

import tempfile
from pathlib import Path

from components._shared.errors import DataError
from components._shared.io.s3 import s3_objects, stream_object
from components._shared.io.sources import open_source
from components.detect_drift import state, state_io
from components.detect_drift.core import assemble, finish
from components.detect_drift.finalize import Rules
from components.detect_drift.sharding import STATE_FILE, StoredPredictions

SHARDED = "sharded"  # DriftResult.mode of a sharded run


def artifact_files(folders: list[str]) -> list[Path]:
    """The state file in each map task's artifact folder."""
    return [Path(folder) / STATE_FILE for folder in folders]


def s3_files(prefix: str, spool: Path) -> list[Path]:
    """Every state under the run's prefix, with its sidecar, copied to `spool`."""
    bucket, objects = s3_objects(prefix, (".npz",))
    files = []
    for key, _ in objects:
        local = spool / Path(key).name
        for suffix in ("", ".sha256"):
            with (spool / (local.name + suffix)).open("wb") as out:
                stream_object(f"s3://{bucket}/{key}{suffix}", out.write)
        files.append(local)
    if not files:
        raise DataError(
            f"no drift states under {prefix}: the map tasks wrote none there (did they run "
            "with fan_in='s3' and the same run id?)"
        )
    return files


def load_checked(files: list[Path], plan: state.Plan, expected: dict) -> dict:
    """Each side's (state, notes) pairs, sha256 checked, after checking plan, sides, counts."""
    loaded = {side: [] for side in state.SIDES}
    for path in files:
        states, notes = state_io.load_noted(path)
        if states.plan.fingerprint != plan.fingerprint:
            raise DataError(
                f"drift state {path} was counted under plan {states.plan.fingerprint[:12]}, "
                f"not this run's {plan.fingerprint[:12]}: a stale shard; run the map again"
            )
        loaded[states.side].append((states, notes))
    for side in state.SIDES:
        want = int(expected[side])
        if len(loaded[side]) != want:
            raise DataError(
                f"{len(loaded[side])} {side} states for a plan of {want} {side} shards: a "
                "shard is missing or counted twice; run the sharded drift again"
            )
    return loaded


def stored_predictions(pairs: list, side: str, pinned: dict) -> list[dict]:
    """Where each shard of a side stored its predictions, from its state's notes.

    Each state must have scored with the plan's pinned version (the plan's fingerprint
    covers columns and edges, not which model filled the prediction column).
    """
    stored = []
    for states, notes in pairs:
        note = notes.get("predictions")
        if note is None or note.get("rows") != states.rows or note.get("model") != pinned:
            raise DataError(
                f"a {side} state of this plan ({states.rows} rows) records predictions {note}, "
                f"not {states.rows} rows scored by the plan's pinned model {pinned}: a shard "
                "counted with another model or none; run the sharded drift again"
            )
        stored.append(note)
    return stored


def reduce(document: dict, plan: state.Plan, files: list[Path], drift_share: float):
    """The drift result of a sharded run from its state files and the plan document."""
    loaded = load_checked(files, plan, document["shards"])
    merged = {side: state.merge_all(s for s, _ in loaded[side]) for side in state.SIDES}
    ref, cur = merged[state.REFERENCE], merged[state.CURRENT]
    for side, counted in merged.items():
        if counted.rows == 0:
            raise DataError(f"the {side} dataset has no rows: nothing to compare")
    rules = Rules(**document["rules"])
    sources = document["sources"]
    data = {side: open_source(sources[side], side) for side in state.SIDES}
    model = document.get("model")
    if model:  # the prediction column is read back from the map tasks' files, never re-scored
        data = {side: StoredPredictions(data[side], stored_predictions(loaded[side], side, model))
                for side in state.SIDES}  # fmt: skip
    outcome = finish(data[state.REFERENCE], data[state.CURRENT], ref, cur, rules)
    names = document["columns"]
    rows = (ref.rows, cur.rows)
    return assemble(names, outcome.results, drift_share, rows, SHARDED, bool(model))


def reduce_from(document: dict, plan, folders: list[str], prefix: str, drift_share: float):
    """`reduce` on the collected artifact folders, or (prefix given) on the S3 prefix."""
    if not prefix:
        return reduce(document, plan, artifact_files(folders), drift_share)
    with tempfile.TemporaryDirectory(prefix="drift-states-") as spool:
        return reduce(document, plan, s3_files(prefix, Path(spool)), drift_share)
