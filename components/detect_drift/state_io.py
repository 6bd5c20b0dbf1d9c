"""Drift states on disk: `.npz` read with allow_pickle=False, its sha256 checked on read.

`save(states, path)` writes `path` (an `.npz` of plain arrays: numbers, UTF-8 bytes, the plan
as JSON bytes) and `path.sha256` (the hex digest of the `.npz` bytes and the file's name, as
`sha256sum` prints it). `load(path)` refuses a file whose bytes do not hash to the sidecar's
digest, naming the file: a shard's state that was truncated or changed is never merged.
"""

import hashlib
import io
import json
from itertools import pairwise
from pathlib import Path

import numpy as np

from components._shared.errors import DataError
from components.detect_drift.sides import Side
from components.detect_drift.state import ColumnStates, Plan

FORMAT = 1
_INTS = ("rows", "dropped", "non_finite", "n", "overflow")
_FLOATS = ("mean", "m2", "low", "high")
_ARRAYS = ("grid", "bins", "hellinger")


def _text_keys(keys: np.ndarray) -> dict[str, np.ndarray]:
    encoded = [str(k).encode() for k in keys]
    offsets = np.cumsum([0, *map(len, encoded)]).astype(np.int64)
    return {"utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8), "offsets": offsets}


def _from_text(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    data = blob.tobytes()
    keys = [data[a:b].decode() for a, b in pairwise(offsets.tolist())]
    return np.array(keys, dtype=object)


def _column_arrays(i: int, side: Side) -> dict[str, np.ndarray]:
    if side.chunks or side.values is not None:
        raise ValueError("an exact-mode state keeps every value: only streamed states are saved")
    out = {
        f"{i}.ints": np.array([int(getattr(side, k)) for k in _INTS], dtype=np.int64),
        f"{i}.floats": np.array([float(getattr(side, k)) for k in _FLOATS]),
    }
    if side.tally is not None:
        keys, counts = side.tally
        out[f"{i}.counts"] = np.asarray(counts, dtype=np.int64)
        if keys.dtype == object:
            out.update({f"{i}.keys.{k}": v for k, v in _text_keys(keys).items()})
        else:
            out[f"{i}.keys"] = keys
    for name in _ARRAYS:
        if getattr(side, name) is not None:
            out[f"{i}.{name}"] = getattr(side, name)
    return out


def _side(i: int, arrays, kind: tuple[str, bool]) -> Side:
    side = Side(*kind)
    for key, value in zip(_INTS, arrays[f"{i}.ints"].tolist(), strict=True):
        setattr(side, key, bool(value) if key == "overflow" else value)
    for key, value in zip(_FLOATS, arrays[f"{i}.floats"].tolist(), strict=True):
        setattr(side, key, value)
    if f"{i}.counts" in arrays:
        if f"{i}.keys" in arrays:
            keys = arrays[f"{i}.keys"]
        else:
            keys = _from_text(arrays[f"{i}.keys.utf8"], arrays[f"{i}.keys.offsets"])
        side.tally = (keys, arrays[f"{i}.counts"])
    for name in _ARRAYS:
        if f"{i}.{name}" in arrays:
            setattr(side, name, arrays[f"{i}.{name}"])
    return side


def sidecar(path: Path) -> Path:
    """Where the sha256 of a state file is kept."""
    return path.with_name(path.name + ".sha256")


def save(states: ColumnStates, path, notes: dict | None = None) -> str:
    """Write `states` to `path` (.npz) and its sha256 beside it; returns the digest.

    `notes`: JSON-able facts that travel with the state under its sha256 (a sharded run's
    map task: where its predictions went, `load_noted` reads them back).
    """
    path = Path(path)
    meta = {"format": FORMAT, "side": states.side, "columns": list(states.plan.columns)}
    meta["notes"] = dict(notes or {})
    arrays = {
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "plan": np.frombuffer(states.plan.to_json().encode(), dtype=np.uint8),
    }
    for i, side in enumerate(states.sides.values()):
        arrays.update(_column_arrays(i, side))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    # The digest is written last: a state without its sidecar is refused, never half-read.
    path.write_bytes(data)
    sidecar(path).write_text(f"{digest}  {path.name}\n")
    return digest


def load(path) -> ColumnStates:
    """The states `save` wrote, after checking the file's sha256 against its sidecar."""
    return load_noted(path)[0]


def load_noted(path) -> tuple[ColumnStates, dict]:
    """The states and the notes `save` wrote, the file's sha256 checked first."""
    path = Path(path)
    try:
        expected = sidecar(path).read_text().split()[0]
    except (OSError, IndexError) as err:
        raise DataError(
            f"drift state {path} has no readable sha256 sidecar {sidecar(path).name} ({err}); "
            "write states with state_io.save, which writes both"
        ) from err
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DataError(
            f"drift state {path} is corrupt: its sha256 is {actual}, its sidecar says "
            f"{expected}; count that shard again"
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    if meta.get("format") != FORMAT:
        raise DataError(f"drift state {path} has format {meta.get('format')}, expected {FORMAT}")
    plan = Plan.from_json(arrays["plan"].tobytes().decode())
    index = 0 if meta["side"] == "reference" else 1
    sides = {
        name: _side(i, arrays, plan.columns[name].kinds[index])
        for i, name in enumerate(meta["columns"])
    }
    return ColumnStates(plan, meta["side"], sides), meta.get("notes", {})
