"""Prediction drift in a sharded run: the one pod's verdict, score and grid, from map tasks.

The cores without KFP or MLflow (the model in hand, pinned by hand); the registry's side
(the alias resolved once, a map task refusing another sha) is in
tests/test_drift_sharded_pipeline.py.
"""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from components._shared.errors import ConfigError, DataError
from components._shared.io.sources import open_source
from components.detect_drift import state
from components.detect_drift.core import detect_drift, with_model
from components.detect_drift.finalize import Rules, finalize
from components.detect_drift.prediction import PREDICTION
from components.detect_drift.sharding import object_sha256, pin, plan_of, schema_of
from components.drift_shard.core import count_shard, save_shard
from components.merge_drift_states.core import reduce_from
from components.plan_drift_shards.core import plan_shards, write_plan
from tests.test_drift_prediction import fitted, frame

PINNED = pin("credit", "champion", 3, "ab" * 32)


@pytest.fixture(scope="module")
def model():
    return fitted()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A reference file and a current folder of two parts; row groups of 2,000 rows."""
    root = tmp_path_factory.mktemp("sharded-prediction")
    pq.write_table(_pa(frame(12_000, 0.0, 1)), root / "reference.parquet", row_group_size=2_000)
    (root / "current").mkdir()
    for i in range(2):
        pq.write_table(
            _pa(frame(5_000, 0.3, 2 + i)), root / f"current/{i}.parquet", row_group_size=2_000
        )
    return root / "reference.parquet", root / "current"


def _pa(frame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def _run(tmp, pair, model, shards=3, pinned=PINNED, **plan_args):
    """Plan, map (as the drift_shard component does: predictions stored, noted), documents."""
    planned = plan_shards(
        str(pair[0]), str(pair[1]), shards, model=model, pinned=pinned, **plan_args
    )
    write_plan(planned, str(tmp / "plan.json"))
    document, plan = plan_of(str(tmp / "plan.json"))
    folders = []
    for item in json.loads(json.dumps(planned.shards)):
        folder = tmp / f"{item['side']}-{item['index']}"
        folder.mkdir()
        stored = folder / "predictions.parquet"
        counted = count_shard(plan, item, schema_of(document, item["side"]), model, str(stored))
        note = {"uri": str(stored), "rows": counted.rows, "sha256": object_sha256(str(stored))}
        save_shard(
            counted,
            item,
            str(folder / "state"),
            notes={"predictions": {**note, "model": document["model"]}},
        )
        folders.append(str(folder / "state"))
    return document, plan, folders


def test_sharded_prediction_drift_gives_the_one_pod_verdict_score_and_grid(pair, model, tmp_path):
    document, plan, folders = _run(tmp_path, pair, model)
    assert document["model"] == PINNED and document["columns"] == ["income", "age", PREDICTION]
    assert plan.columns[PREDICTION].grid is None  # no footer statistics: as the one pod
    sharded = reduce_from(document, plan, folders, "", 0.5)
    reference, current = open_source(str(pair[0])), open_source(str(pair[1]))
    one_pod = detect_drift(reference, current, model=model, mode="streaming")
    p, q = sharded.prediction, one_pod.prediction
    assert (p.method, p.drifted, p.column_type) == (q.method, q.drifted, "numerical")
    assert p.method == "wasserstein" and p.drifted
    assert p.score == pytest.approx(q.score, rel=1e-12)
    assert p.error_bound == pytest.approx(q.error_bound, rel=1e-12)
    assert [c.column for c in sharded.columns] == [c.column for c in one_pod.columns]
    assert sharded.drift_share == one_pod.drift_share  # the prediction is not in the share
    exact = detect_drift(reference, current, model=model, mode="exact").prediction
    assert abs(p.score - exact.score) <= p.error_bound


def test_the_prediction_grid_is_planned_on_the_one_pods_edges(pair, model, tmp_path):
    document, plan, folders = _run(tmp_path, pair, model)
    from components.merge_drift_states.core import artifact_files, load_checked

    loaded = load_checked(artifact_files(folders), plan, document["shards"])
    merged = [state.merge_all(s for s, _ in loaded[side]) for side in state.SIDES]
    sharded = finalize(*merged, Rules()).grid_ranges[PREDICTION]
    # The one pod's first pass over both whole datasets (core.detect_drift, streaming).
    ref, cur, names = with_model(open_source(str(pair[0])), open_source(str(pair[1])), [], model)
    first = state.facts_plan(ref.schema, cur.schema, names)
    one_pod = finalize(
        state.partial(ref.batches(names), first, state.REFERENCE),
        state.partial(cur.batches(names), first, state.CURRENT),
        Rules(),
    ).grid_ranges[PREDICTION]
    assert sharded == one_pod  # low, high, value count, test: the same edges


def test_a_model_missing_features_fails_the_plan_naming_them(pair, model, tmp_path):
    reference = tmp_path / "reference.parquet"
    pq.write_table(_pa(frame(500, 0.0, 9).drop(columns=["age"])), reference)
    with pytest.raises(DataError, match="column 'age' is missing from the reference data"):
        plan_shards(str(reference), str(pair[1]), 2, model=model, pinned=PINNED)
    with pytest.raises(
        DataError, match=r"reference data lacks the model's input columns \['age'\]"
    ):
        plan_shards(str(reference), str(pair[1]), 2, columns=["city"], model=model, pinned=PINNED)


def test_a_model_without_its_pin_or_a_shard_without_the_plans_model_is_refused(
    pair, model, tmp_path
):
    with pytest.raises(ConfigError, match="needs its pin"):
        plan_shards(str(pair[0]), str(pair[1]), 2, model=model)
    planned = plan_shards(str(pair[0]), str(pair[1]), 2, model=model, pinned=PINNED)
    item, schema = planned.shards[0], planned.schemas["reference"]
    with pytest.raises(ConfigError, match="given no model"):
        count_shard(planned.plan, item, schema)
    bare = plan_shards(str(pair[0]), str(pair[1]), 2)
    with pytest.raises(ConfigError, match="has no column 'prediction'"):
        count_shard(bare.plan, item, schema, model, str(tmp_path / "p.parquet"))


def test_stored_predictions_of_another_model_or_changed_fail_the_reduce(pair, model, tmp_path):
    document, plan, folders = _run(tmp_path, pair, model)
    other = dict(document, model=pin("credit", "champion", 4, "cd" * 32))
    with pytest.raises(DataError, match="counted with another model"):
        reduce_from(other, plan, folders, "", 0.5)
    stored = tmp_path / "current-0" / "predictions.parquet"
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"predictions .* are corrupt"):
        reduce_from(document, plan, folders, "", 0.5)


def test_empty_alias_means_no_prediction_column(pair, tmp_path):
    planned = plan_shards(str(pair[0]), str(pair[1]), 2)
    assert planned.document()["model"] is None and PREDICTION not in planned.plan.columns


def test_stored_predictions_read_beside_data_columns_hold_the_one_pods_values(
    pair, model, tmp_path
):
    """A reduce pass over the prediction and a data column: each column's values, any order."""
    from components.detect_drift.sharding import StoredPredictions
    from components.merge_drift_states.core import artifact_files, load_checked, stored_predictions

    document, plan, folders = _run(tmp_path, pair, model, shards=4)
    loaded = load_checked(artifact_files(folders), plan, document["shards"])
    data = open_source(str(pair[1]), "current")
    stored = StoredPredictions(data, stored_predictions(loaded["current"], "current", PINNED))
    one_pod, _, _ = with_model(data, data, [], model)
    columns = ["income", PREDICTION]
    got, want = stored.table(columns), one_pod.table(columns)
    assert got.num_rows == want.num_rows == 10_000
    for column in columns:
        assert np.array_equal(np.sort(got[column].to_numpy()), np.sort(want[column].to_numpy()))
    assert [b.num_rows for b in stored.batches([PREDICTION])]  # the prediction alone streams
