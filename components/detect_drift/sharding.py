"""What a sharded drift run's plan, map and reduce tasks share: the plan file, where states go.

The tasks themselves are components/plan_drift_shards, drift_shard and merge_drift_states;
the statistics are state.py and finalize.py, as in the one-pod path.
"""

import base64
import hashlib
import json
from pathlib import Path

import pyarrow as pa

from components._shared.errors import ConfigError, DataError
from components._shared.model_io import ModelTrustError
from components._shared.verdicts.gate_records import gates_prefix, in_fleet
from components.detect_drift import state
from components.detect_drift.prediction import PREDICTION

STATE_FILE = "state.npz"  # in each map task's artifact folder, beside its sha256 sidecar
PREDICTIONS_FILE = "predictions.parquet"  # a map task's model outputs, in its own artifact


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


def pin(model_name: str, alias: str, version: int, sha256: str) -> dict:
    """The plan's record of the model every map task scores with: one version, its sha256.

    The alias is resolved once, in the plan task: an alias moved during the run does not
    give shards of one run different models.
    """
    return {"name": model_name, "alias": alias, "version": int(version), "sha256": sha256}


def load_pinned(pinned: dict):
    """The pinned version, loaded through the one checked loader, and only if still the same.

    `load_version` checks the signature, the file against the version's model_sha256 tag
    and the class list; here that tag must also be the sha256 the plan recorded.

    Raises:
        ModelTrustError: The version's recorded sha256 is not the plan's (its file and tag
            changed during the run), or the loader refused the file.
    """
    from components._shared.registry.champion import load_version

    name, version, expected = pinned["name"], int(pinned["version"]), pinned["sha256"]
    found = load_version(name, version)
    if found.sha256 != expected:
        raise ModelTrustError(
            f"models:/{name}/{version} records model_sha256 {str(found.sha256)[:12]}, but this "
            f"run's plan pinned {expected[:12]}: the version changed during the run, so its "
            "shards would score with different models; run the sharded drift again (a new plan "
            "pins the version anew)"
        )
    return found.model


def schema_text(schema: pa.Schema) -> str:
    """An Arrow schema as text for the plan's JSON (its IPC bytes, base64)."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def schema_of(document: dict, side: str) -> pa.Schema:
    """The schema the plan chose for a side's batches (its first part's, as one pod reads)."""
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(document["schemas"][side])))


def object_sha256(uri: str) -> str:
    """The hex sha256 of a local file or an S3 object, streamed."""
    from components._shared.datasets.describe import file_sha256
    from components._shared.io.s3 import stream_object

    if not uri.startswith("s3://"):
        return file_sha256(Path(uri.removeprefix("file://")))
    digest = hashlib.sha256()
    stream_object(uri, digest.update)
    return digest.hexdigest()


class StoredPredictions:
    """One side's data with the `prediction` column its map tasks stored, for the reduce.

    What the reduce reads again (a grid pass, exact re-scoring) it reads from here instead of
    scoring the rows with the model a second time. The stored predictions come shard after
    shard, not in the data's row order (a shard is any set of row groups); every pass that
    reads them (`state.partial`, `scan.read_exact`) counts each column on its own, so only
    the number of rows must agree: both streams are cut into batches of equal length.
    Each file's sha256 and rows are checked against its state's notes before it is read.
    """

    def __init__(self, data, stored: list[dict]):
        from components._shared.io.sources import open_source

        self.data, self.stored, self._open = data, stored, open_source
        kind = open_source(stored[0]["uri"], "predictions").schema.field(PREDICTION).type
        fields = [f for f in data.schema if f.name != PREDICTION]  # a log's own: shadowed
        self.schema = pa.schema(fields).append(pa.field(PREDICTION, kind))
        self.num_rows, self.uri = data.num_rows, data.uri
        self._verified = False

    def _verify(self) -> None:
        for note in self.stored:
            actual = object_sha256(note["uri"])
            if actual != note["sha256"]:
                raise DataError(
                    f"stored predictions {note['uri']} are corrupt: sha256 {actual[:12]}, their "
                    f"state says {note['sha256'][:12]}; count that shard again"
                )
            rows = self._open(note["uri"], "predictions").num_rows
            if rows != note["rows"]:
                raise DataError(
                    f"stored predictions {note['uri']} hold {rows} rows, their state counted "
                    f"{note['rows']}; count that shard again"
                )
        self._verified = True

    def _predictions(self):
        if not self._verified:
            self._verify()
        for note in self.stored:
            for batch in self._open(note["uri"], "predictions").batches([PREDICTION]):
                yield batch.column(0)

    def batches(self, columns: list[str]):
        """The selected columns in batches; `prediction` from the stored files."""
        others = [c for c in columns if c != PREDICTION]
        if PREDICTION not in columns:
            yield from self.data.batches(columns)
            return
        stored = _Cutter(self._predictions(), self.schema.field(PREDICTION).type)
        if not others:
            for values in stored.rest():
                yield pa.RecordBatch.from_arrays([values], [PREDICTION])
            return
        for batch in self.data.batches(others):
            arrays = {c: batch.column(c) for c in others}
            arrays[PREDICTION] = stored.take(batch.num_rows)
            yield pa.RecordBatch.from_arrays([arrays[c] for c in columns], columns)
        if stored.left():
            raise DataError("the stored predictions hold more rows than the data; plan again")

    def table(self, columns: list[str]) -> pa.Table:
        """The selected columns in memory (exact re-scoring)."""
        fields = [self.schema.field(c) for c in columns]
        return pa.Table.from_batches(list(self.batches(columns)), pa.schema(fields))


class _Cutter:
    """Arrays from a stream, handed out in pieces of any length."""

    def __init__(self, arrays, kind: pa.DataType):
        self.arrays, self.pending, self.kind = arrays, [], kind

    def take(self, n: int) -> pa.Array:
        if n == 0:
            return pa.array([], self.kind)
        have = sum(len(a) for a in self.pending)
        while have < n:
            nxt = next(self.arrays, None)
            if nxt is None:
                raise DataError("the stored predictions hold fewer rows than the data; plan again")
            self.pending.append(nxt)
            have += len(nxt)
        whole = pa.concat_arrays(self.pending) if len(self.pending) > 1 else self.pending[0]
        self.pending = [whole.slice(n)] if have > n else []
        return whole.slice(0, n)

    def rest(self):
        yield from self.pending
        yield from self.arrays

    def left(self) -> bool:
        return any(len(a) for a in self.pending) or next(self.arrays, None) is not None
