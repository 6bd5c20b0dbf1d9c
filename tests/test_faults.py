"""Fault injection with real processes: SIGKILL SeaweedFS or MLflow at each boundary, rerun.

The module has its own embedded stack (killing it must not disturb other modules). Each
scenario arms a failpoint (components/_shared/failpoints.py) with a real SIGKILL of a
service's whole process group through the stack's process control, or with a crash of the
step itself; lets the step fail; restarts what was killed on the same ports and state; reruns
the same attempt (same KFP run id, same model file); and checks the one consistent end state.
The step dies three ways: a server killed under it, a Crash raised at the point (cleanup
still runs), and its own process SIGKILLed there (no cleanup: the lease stays held).
"""

import hashlib
import json
import multiprocessing
import os
import signal
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from kfp import dsl
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from components._shared.errors import ServiceError
from components._shared.failpoints import POINTS, Crash, armed, crash
from components._shared.io import s3_client, upload_file, write_parquet
from components._shared.model_io import save_model
from components.load_data import component as load_component
from components.load_data.core import snapshot
from components.register_model import component as register_component
from kfp_mlops.stack import Stack
from tests.conftest import GERMAN_CREDIT, NO_WINDOW, free_port
from tests.test_register_model import LINEAGE_TAGS

pytestmark = [
    pytest.mark.stack,
    # MLflow's signature inference hints at integer columns; the sample is what it is.
    pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer:UserWarning"),
]

FEATURES = ["credit_amount", "duration", "age"]  # numeric: a bare estimator takes them
REGISTER_POINTS = [p for p in POINTS if p.startswith("register.")]
# Which server dies at each point: MLflow, except where the point is about the S3 lock.
KILLS = [(p, "seaweedfs" if p == "register.lock_acquired" else "mlflow") for p in REGISTER_POINTS]
# The lock's store dying with a champion move recorded (or made) but the lease not released.
KILLS += [("register.record_written", "seaweedfs"), ("register.champion_moved", "seaweedfs")]


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    """A stack of this module's own, its env exported; prints the module's wall time."""
    started = time.monotonic()
    st = Stack(home=tmp_path_factory.mktemp("faults"), s3_port=free_port(), mlflow_port=free_port())
    st.up(log=_quiet)
    patch = pytest.MonkeyPatch()
    for key, value in st.env().items():
        patch.setenv(key, value)
    try:
        # MLflow's fluent API prefers a URI an earlier module set with set_tracking_uri.
        with _use_tracking_uri(st.mlflow_url):
            yield st
    finally:
        patch.undo()
        st.down(log=_quiet)
        print(f"\ntest_faults: {time.monotonic() - started:.0f} s with its stack")


@pytest.fixture(autouse=True)
def back_up(fault_stack):
    """Whatever a scenario killed is running again before the next one starts."""
    yield
    fault_stack.up(log=_quiet)


def _once(action):
    """An action that runs the first time its point is crossed only."""
    done = []

    def run():
        if not done:
            done.append(True)
            action()

    return run


def _listing() -> list[tuple]:
    client = s3_client()
    return sorted(
        (b.name, o.object_name, o.etag)
        for b in client.list_buckets()
        for o in client.list_objects(b.name, recursive=True)
    )


# -- load_data ------------------------------------------------------------------------------


def test_fault_seaweedfs_killed_after_first_part_read_fails_naming_endpoint_rerun_same_hash(
    fault_stack, tmp_path
):
    frame = pd.read_csv(GERMAN_CREDIT)
    prefix = f"s3://kfp-mlops-data/faults/{uuid.uuid4().hex[:8]}/parts/"
    for i in range(3):
        path = tmp_path / f"part-{i}.parquet"
        frame.iloc[i * 300 : (i + 1) * 300].to_parquet(path, index=False)
        upload_file(path, f"{prefix}part-{i}.parquet")
    expected = snapshot(prefix, tmp_path / "first.parquet").sha256
    before = _listing()

    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    kill = _once(lambda: fault_stack.kill("seaweedfs", log=_quiet))
    with armed("load.part_read", kill), pytest.raises(ServiceError) as info:
        load_component.load_data.python_func(
            data_uri=prefix,
            expected_sha256="",
            **NO_WINDOW,
            dataset_name="",
            dataset=dataset,
        )
    message = str(info.value)
    assert f"cannot read {prefix}part-1.parquet" in message
    assert f"S3 endpoint {fault_stack.s3_url} is unreachable" in message
    assert "kfp-mlops stack status" in message
    assert not (tmp_path / "dataset").exists() and dataset.metadata == {}

    fault_stack.up(log=_quiet)
    assert _listing() == before, "the failed read changed S3"
    again = dsl.Dataset(uri=str(tmp_path / "again"))
    load_component.load_data.python_func(
        data_uri=prefix,
        expected_sha256=expected,
        **NO_WINDOW,
        dataset_name="",
        dataset=again,
    )
    assert again.metadata["sha256"] == expected and again.metadata["rows"] == 900


# -- register_model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT).head(300)


def _fit(credit: pd.DataFrame, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(max_iter=10, random_state=seed)
    return clf.fit(credit[FEATURES], credit["risk"])


def _attempt(folder: Path, credit, model_name: str, seed: int, champion: int | None) -> dict:
    """One registration attempt's inputs (its model file, artifacts and KFP run id), on disk."""
    folder.mkdir(parents=True)
    model = dsl.Model(uri=str(folder / "model.skops"))
    trusted = save_model(_fit(credit, seed), model.path)
    model.metadata.update(
        framework="sklearn",
        estimator="hist_gradient_boosting",
        target_column="risk",
        hyperparameters={"max_iter": 10, "random_state": seed},
        feature_columns=FEATURES,
        classes=[0, 1],
        skops_trusted_types=trusted,
        sha256=hashlib.sha256(Path(model.path).read_bytes()).hexdigest(),
    )
    dataset = dsl.Dataset(uri=str(folder / "dataset.parquet"))
    write_parquet(credit, dataset.path)
    dataset.metadata.update(
        source_uri="s3://kfp-mlops-data/german_credit.csv", sha256="d" * 64, rows=len(credit)
    )
    validation = dsl.Artifact(uri=str(folder / "validation.json"))
    (folder / "validation.json").write_text("{}")
    validation.metadata.update(success=True, suite_sha256="5" * 64, evaluated=3, failed=0)
    evaluation = dsl.Markdown(uri=str(folder / "evaluation.md"))
    value = 0.8 if champion is None else 0.9  # better than the champion: promoted
    evaluation.metadata.update(
        passed=True,
        reasons=[f"roc_auc {value} >= 0.7"],
        primary_metric="roc_auc",
        primary_value=value,
        champion_version=champion,
        champion_value=None if champion is None else 0.8,
        first_run=champion is None,
        delta=None if champion is None else value - 0.8,
    )
    fairness = dsl.Markdown(uri=str(folder / "fairness.md"))
    fairness.metadata.update(passed=True, reasons=[], per_feature={})
    return {
        "model": model,
        "dataset": dataset,
        "validation": validation,
        "evaluation_report": evaluation,
        "fairness_report": fairness,
        "evaluation_blessed": True,
        "fairness_blessed": True,
        "model_name": model_name,
        "promote": True,
        "parameters": {"test_size": 0.25, "estimator": "hist_gradient_boosting"},
        "kfp_run_id": f"run-{uuid.uuid4().hex[:8]}",
    }


def _register(inputs: dict, out: Path) -> dict:
    """Run the register_model step on the inputs; its registered_model metadata."""
    out.mkdir(parents=True, exist_ok=True)
    registered = dsl.Artifact(uri=str(out / "registered_model"))
    register_component.register_model.python_func(
        **inputs,
        registered_model=registered,
        lineage=dsl.Artifact(uri=str(out / "lineage.json")),
        model_card=dsl.Markdown(uri=str(out / "model_card.md")),
    )
    return dict(registered.metadata)


def _history(model: str, capsys) -> list[dict]:
    from kfp_mlops.cli.main import main

    capsys.readouterr()
    assert main(["history", model, "--output", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _assert_consistent(model: str, attempt: dict, result: dict, capsys) -> None:
    """One version for the attempt, both aliases on it, complete tags, a chained history."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run_id = attempt["kfp_run_id"]
    versions = client.search_model_versions(f"name = '{model}'")
    mine = [v for v in versions if v.tags.get("kfp_run_id") == run_id]
    assert len(versions) == 2 and len(mine) == 1, [(v.version, v.tags) for v in versions]
    version = mine[0]
    assert int(version.version) == 2
    assert result["registered"] and result["version"] == 2 and result["promoted"]
    assert result["aliases"] == ["challenger", "champion"]
    live = client.get_registered_model(model).aliases
    assert live == {"challenger": "2", "champion": "2"}, live
    tags = version.tags
    assert set(tags) >= LINEAGE_TAGS, sorted(LINEAGE_TAGS - set(tags))
    assert tags["model_sha256"] == attempt["model"].metadata["sha256"]
    assert tags["kfp_mlops.previous_champion"] == "1" and tags["kfp_mlops.champion_since"]
    experiment = client.get_experiment_by_name(model)  # register_model's experiment
    runs = client.search_runs([experiment.experiment_id], f"tags.kfp_run_id = '{run_id}'")
    assert [r.info.run_id for r in runs] == [version.run_id], "one run for the attempt"

    moves = _history(model, capsys)
    for alias in ("challenger", "champion"):
        chain = [(m["from_version"], m["version"]) for m in moves if m["alias"] == alias]
        assert chain == [(None, 1), (1, 2)], (alias, moves)
    assert all(m["who"] and m["time"] and m["why"] for m in moves)
    assert [m["time"] for m in moves] == sorted(m["time"] for m in moves)


def _fault_scenario(fault_stack, tmp_path, credit, capsys, point: str, fail) -> object:
    """Champion v1; an attempt that `fail`s at `point`; restart; rerun: consistent."""
    model = f"fault-{point.split('.')[1].replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    first = _attempt(tmp_path / "first", credit, model, seed=0, champion=None)
    assert _register(first, tmp_path / "out-first")["aliases"] == ["challenger", "champion"]
    attempt = _attempt(tmp_path / "attempt", credit, model, seed=1, champion=1)
    outcome = fail(attempt, tmp_path / "out-failed")
    fault_stack.up(log=_quiet)
    result = _register(attempt, tmp_path / "out-rerun")  # same KFP run id, same model file
    _assert_consistent(model, attempt, result, capsys)
    return outcome


def _fails_in_this_process(point: str, action):
    """Run the step here with `point` armed; the error it failed with."""

    def fail(attempt: dict, out: Path) -> BaseException:
        with armed(point, _once(action)):
            try:
                _register(attempt, out)
            except (ServiceError, Crash) as exc:
                return exc
        pytest.fail(f"the step did not fail after {point}")

    return fail


def _die_at(point: str, attempt: dict, out: Path) -> None:
    """A child process's body: the step, SIGKILLed by itself when it crosses `point`."""
    with armed(point, lambda: os.kill(os.getpid(), signal.SIGKILL)):
        _register(attempt, out)


def _dies_in_a_child_process(point: str):
    """Run the step in a fresh process that dies at `point`, no cleanup run; its exit code."""

    def fail(attempt: dict, out: Path) -> int:
        child = multiprocessing.get_context("spawn").Process(
            target=_die_at, args=(point, attempt, out)
        )
        child.start()
        child.join(timeout=300)
        return child.exitcode

    return fail


@pytest.mark.parametrize(("point", "service"), KILLS)
def test_fault_server_killed_at_register_point_rerun_ends_consistent(
    fault_stack, tmp_path, credit, capsys, point, service
):
    kill = _fails_in_this_process(point, lambda: fault_stack.kill(service, log=_quiet))
    failure = _fault_scenario(fault_stack, tmp_path, credit, capsys, point, kill)
    assert isinstance(failure, ServiceError), repr(failure)
    assert fault_stack.s3_url in str(failure) or fault_stack.mlflow_url in str(failure)


@pytest.mark.parametrize("point", REGISTER_POINTS)
def test_fault_step_crashes_at_register_point_rerun_ends_consistent(
    fault_stack, tmp_path, credit, capsys, point
):
    crashed = _fails_in_this_process(point, crash)
    assert isinstance(_fault_scenario(fault_stack, tmp_path, credit, capsys, point, crashed), Crash)


@pytest.mark.parametrize("point", REGISTER_POINTS)
def test_fault_step_process_sigkilled_at_register_point_rerun_ends_consistent(
    fault_stack, tmp_path, credit, capsys, point
):
    died = _dies_in_a_child_process(point)
    exit_code = _fault_scenario(fault_stack, tmp_path, credit, capsys, point, died)
    assert exit_code == -signal.SIGKILL, f"the step process did not die at {point}: {exit_code}"
