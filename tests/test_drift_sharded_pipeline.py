"""The monitoring pipeline with shards=4 through kfp.local: the one-pod verdict and scores.

Two runs: fan_in "collected" (dsl.Collected of the map tasks' artifacts) and fan_in "s3"
(the reduce lists the run's S3 prefix instead). The one-pod figures come from the call the
detect_drift step makes, on the same snapshot files the runs read.
"""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from components._shared.io.sources import open_source
from components.detect_drift.core import detect_drift
from pipelines.descriptors import compiled_path

SHARDS = 4


def _write(path: Path, rng, rows: int, shift: float) -> Path:
    table = pa.table(
        {
            "amount": rng.lognormal(3.0 + shift, 0.5, rows),  # drifts
            "duration": rng.normal(20.0 + 10 * shift, 5.0, rows),  # drifts
            "rooms": rng.integers(1, 5, rows),
            "city": rng.choice(["lyon", "nice", "metz"], rows),
        }
    )
    pq.write_table(table, path, row_group_size=1_000)  # 6 row groups: 4 shards
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded-pipeline")
    rng = np.random.default_rng(11)
    return _write(root / "ref.parquet", rng, 6_000, 0.0), _write(
        root / "cur.parquet", rng, 6_000, 0.5
    )


def _run(cli, files, fan_in: str, model: str) -> dict:
    reference, current = files
    params = {
        "reference_uri": reference,
        "current_uri": current,
        "model_name": model,
        "shards": SHARDS,
        "fan_in": fan_in,
    }
    args = [a for k, v in params.items() for a in ("-p", f"{k}={v}")]
    code, out, err = cli("run-local", "monitoring", "--output", "json", *args)
    summary = json.loads(out)
    assert code == 0, (summary["error"], err[-3000:])
    return summary


def _states(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).rglob("state.npz"))


def test_sharded_monitoring_decides_as_one_pod_collected_and_through_s3(cli, files, stack):
    one_pod = detect_drift(open_source(str(files[0])), open_source(str(files[1])))
    assert one_pod.drifted and one_pod.mode == "exact"
    expected = {c.column: c for c in one_pod.columns}
    for fan_in in ("collected", "s3"):
        summary = _run(cli, files, fan_in, f"sharded-{fan_in}")
        drift = summary["gates"]["drift"]
        assert summary["drifted"] is True and drift["passed"] is False
        assert drift["metrics"]["drift_share"] == one_pod.drift_share
        assert drift["report"]["mode"] == "sharded"
        assert sorted(drift["report"]["columns_drifted"]) == sorted(
            c.column for c in one_pod.columns if c.drifted
        )
        for name, column in expected.items():
            # Exact for counted columns; the grid's stated bound for many-valued numbers.
            bound = max(column.error_bound or 0.0, 1e-12)
            score = drift["metrics"][f"score_{name}"]
            assert score == pytest.approx(column.score, abs=2e-3 + bound), name
        assert len(_states(summary["run_dir"])) == 2 * SHARDS  # 6 row groups → 4 shards a side
    # The S3 run's states are under its run-scoped prefix too.
    from components._shared.io.s3 import s3_objects

    _, objects = s3_objects("s3://kfp-mlops-data/runs/", (".npz",))
    assert sum("/drift-states/" in key for key, _ in objects) >= 2 * SHARDS


def test_compiled_spec_carries_the_shard_parallelism_and_an_s3_reduce_without_fan_in():
    spec = next(yaml.safe_load_all(compiled_path("monitoring").read_text()))
    dags = {n: c["dag"]["tasks"] for n, c in spec["components"].items() if "dag" in c}
    loops = [t for tasks in dags.values() for t in tasks.values() if "iteratorPolicy" in t]
    assert [t["iteratorPolicy"]["parallelismLimit"] for t in loops] == [16, 16]
    reduces = {k: t for tasks in dags.values() for k, t in tasks.items() if "merge-drift" in k}
    inputs = {k: set(t["inputs"].get("artifacts", {})) for k, t in reduces.items()}
    assert sorted(inputs.values(), key=len) == [{"plan"}, {"plan", "states"}]
    s3_reduce = next(t for k, t in reduces.items() if inputs[k] == {"plan"})
    assert any(d.startswith("for-loop") for d in s3_reduce["dependentTasks"])


def _champion(name: str, files, seed: int = 0) -> int:
    """A logistic model on amount and duration, registered as register_model stores it."""
    from kfp import dsl
    from sklearn.linear_model import LogisticRegression

    from components._shared.model_io import file_sha256, save_model
    from tests.test_evaluate_model import register_champion

    frame = pq.read_table(files[0]).to_pandas()
    target = (frame["duration"] + np.random.default_rng(seed).normal(0, 5, len(frame))) > 20
    model = LogisticRegression(max_iter=500).fit(frame[["amount", "duration"]], target)
    path = Path(files[0]).parent / f"{name}-{seed}.skops"
    save_model(model, path)
    artifact = dsl.Model(uri=str(path), metadata={"sha256": file_sha256(path.read_bytes())})
    return register_champion(name, artifact)


def test_sharded_monitoring_with_a_champion_decides_prediction_drift_as_one_pod(
    cli, files, stack, capsys
):
    from components._shared.registry.champion import load_champion

    name = "sharded-champion"
    _champion(name, files)
    model = load_champion(name).model
    one_pod = detect_drift(open_source(str(files[0])), open_source(str(files[1])), model=model)
    expected = one_pod.prediction
    assert expected.method == "wasserstein" and expected.drifted
    capsys.readouterr()  # MLflow's lines about the registering run, not the CLI's JSON
    summary = _run(cli, files, "collected", name)
    drift = summary["gates"]["drift"]
    assert drift["metrics"]["prediction_drifted"] == 1.0
    bound = max(expected.error_bound or 0.0, 1e-12)
    assert drift["metrics"]["prediction_score"] == pytest.approx(expected.score, abs=2e-3 + bound)
    assert drift["metrics"]["drift_share"] == one_pod.drift_share  # not in the share
    assert drift["metrics"]["columns_compared"] == 2  # the model's inputs, as one pod
    stored = sorted(Path(summary["run_dir"]).rglob("predictions"))
    assert sum(pq.read_metadata(p).num_rows for p in stored if p.is_file()) == 12_000


def test_the_alias_is_resolved_once_and_a_map_task_refuses_another_sha(files, stack, tmp_path):
    from kfp import dsl

    from components._shared.model_io import ModelTrustError
    from components.detect_drift import state_io
    from components.drift_shard.component import drift_shard
    from components.plan_drift_shards.component import plan_drift_shards

    name = "sharded-pinned"
    first = _champion(name, files, seed=0)
    plan = dsl.Artifact(uri=str(tmp_path / "plan.json"))
    shards = plan_drift_shards.python_func(
        reference=dsl.Dataset(uri=str(files[0])), current=dsl.Dataset(uri=str(files[1])),
        shards=2, fan_in="collected", columns=[], method="auto", thresholds={},
        column_methods={}, model_name=name, model_alias="champion", plan=plan,
    )  # fmt: skip
    pinned = json.loads(Path(plan.path).read_text())["model"]
    assert (pinned["version"], pinned["alias"]) == (first, "champion")
    assert _champion(name, files, seed=1) == first + 1  # the alias moves on mid-run

    def count(plan_artifact, out):
        out.mkdir()  # KFP makes an output's folder; python_func does not
        state = dsl.Artifact(uri=str(out / "state"))
        predictions = dsl.Dataset(uri=str(out / "predictions"))
        drift_shard.python_func(
            plan=plan_artifact, shard=shards[0], fan_in="collected", model_name=name,
            kfp_run_id="", state=state, predictions=predictions,
        )  # fmt: skip
        return state_io.load_noted(Path(state.path) / "state.npz")[1]["predictions"]

    note = count(plan, tmp_path / "a")
    assert note["model"] == pinned
    # Scored with the pinned version, not the one the alias points at now.
    from components._shared.registry.champion import load_version

    groups = [int(g[1]) for g in shards[0]["groups"]]
    rows = pq.ParquetFile(files[0]).read_row_groups(groups).to_pandas()[["amount", "duration"]]
    stored = np.sort(pq.read_table(note["uri"]).column("prediction").to_numpy())
    for version, same in ((first, True), (first + 1, False)):
        scored = np.sort(load_version(name, version).model.predict_proba(rows)[:, -1])
        assert np.array_equal(stored, scored) is same, version
    other = dict(json.loads(Path(plan.path).read_text()), model={**pinned, "sha256": "0" * 64})
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(other))
    with pytest.raises(ModelTrustError, match="this run's plan pinned 000000000000"):
        count(dsl.Artifact(uri=str(forged)), tmp_path / "b")
