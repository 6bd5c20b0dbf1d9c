"""Shared fixtures: the embedded stack (real SeaweedFS + real MLflow server) for the session."""

import os
import socket
from pathlib import Path

import pytest

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

REPO = Path(__file__).resolve().parent.parent
GERMAN_CREDIT = REPO / "data" / "german_credit.csv"
# load_data's date-window parameters when no window is wanted (every part, no prediction log).
NO_WINDOW = {"start_date": "", "end_date": "", "last_days": 0}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """A real embedded stack on free ports with its own state folder; its env is exported."""
    from kfp_mlops.stack import Stack

    home = tmp_path_factory.mktemp("stack")
    st = Stack(home=home, s3_port=free_port(), mlflow_port=free_port())
    st.up()
    patch = pytest.MonkeyPatch()
    for key, value in st.env().items():
        patch.setenv(key, value)
    try:
        yield st
    finally:
        patch.undo()
        st.down()


@pytest.fixture(scope="session")
def alert_receiver():
    """A real webhook on 127.0.0.1 that records what Alertmanager posts to it."""
    from tests.monitoring_stack import AlertReceiver

    receiver = AlertReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def monitored_stack(tmp_path_factory, alert_receiver):
    """A second stack with monitoring on (free ports, default intervals), alerts to the receiver.

    Prometheus scrapes a model server on a port free now (tests/monitoring_stack.serve_port);
    a test starts `kfp-mlops serve` there. Its env is not exported: monitoring_stack.stack_env.
    """
    from kfp_mlops.stack import Stack

    st = Stack(
        home=tmp_path_factory.mktemp("monitored"),
        s3_port=free_port(),
        mlflow_port=free_port(),
        prometheus_port=free_port(),
        pushgateway_port=free_port(),
        alertmanager_port=free_port(),
        alert_webhook=alert_receiver.url("/alerts"),
        serve_target=f"127.0.0.1:{free_port()}",
    )
    st.up(monitoring_on=True)
    try:
        yield st
    finally:
        st.down()


@pytest.fixture(scope="session")
def drifted_monitoring_run(monitored_stack, tmp_path_factory):
    """The monitoring pipeline on drifted data against the monitored stack (it retrains).

    Returns:
        (its JSON summary, the time.time() it ended, the model name, the time its drift gate
        pushed, read now: later runs on the same stack push again).
    """
    from tests.monitoring_stack import MODEL, run_monitoring, wait_for_series
    from tests.test_pipeline_monitoring import _shifted

    current = _shifted(tmp_path_factory.mktemp("drifted") / "shifted.csv")
    summary, ended = run_monitoring(monitored_stack, MODEL, current_uri=current)
    [pushed] = wait_for_series(
        monitored_stack.prometheus.url,
        f'kfp_mlops_gate_last_run_timestamp_seconds{{gate="drift",model="{MODEL}"}}',
        30,
    )
    return summary, ended, MODEL, float(pushed["value"][1])


@pytest.fixture
def cli(stack, monkeypatch, capsys):
    """Run `kfp-mlops ...` in-process against the session stack; return (code, stdout, stderr)."""
    from kfp_mlops.cli.main import main

    monkeypatch.setenv("KFP_MLOPS_HOME", str(stack.home))
    monkeypatch.setenv("KFP_MLOPS_S3_PORT", str(stack.s3_port))
    monkeypatch.setenv("KFP_MLOPS_MLFLOW_PORT", str(stack.mlflow_port))

    def run(*args):
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def pytest_collection_modifyitems(items):
    """Mark every test that uses the stack, so `pytest -m 'not stack'` runs the fast ones."""
    for item in items:
        if {"stack", "monitored_stack"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory):
    """A real Pushgateway on a free port (tests/real_pushgateway.py)."""
    from tests.real_pushgateway import RealPushgateway

    gateway = RealPushgateway(tmp_path_factory.mktemp("pushgateway"), free_port()).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def _gated_run(stack, pushgateway, *args: str, webhook=None) -> tuple[int, dict]:
    """`kfp-mlops run-local ... --output json` whose tasks see the Pushgateway's address.

    With a `webhook` receiver, the run's notify exit task posts its message there.
    """
    import contextlib
    import io
    import json

    from components._shared.verdicts.pushgateway import PUSHGATEWAY_ENV
    from kfp_mlops.cli.main import main

    patch = pytest.MonkeyPatch()
    patch.setenv(PUSHGATEWAY_ENV, pushgateway.url)  # kfp.local's tasks inherit os.environ
    if webhook is not None:
        patch.setenv("KFP_MLOPS_WEBHOOK_URL", webhook.url())
        webhook.script()
    patch.setenv("KFP_MLOPS_HOME", str(stack.home))
    patch.setenv("KFP_MLOPS_S3_PORT", str(stack.s3_port))
    patch.setenv("KFP_MLOPS_MLFLOW_PORT", str(stack.mlflow_port))
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["run-local", *args, "--output", "json"])
    finally:
        patch.undo()
    return code, json.loads(out.getvalue())


def _run_id(model: str, version: int) -> str:
    """The KFP run id a registered version was made in (register_model's kfp_run_id tag)."""
    from mlflow import MlflowClient

    return MlflowClient().get_model_version(model, str(version)).tags["kfp_run_id"]


GATED_MODEL = "german-credit-gates"


@pytest.fixture(scope="session")
def webhook():
    """A real webhook receiver on 127.0.0.1 (tests/webhook_receiver.py) for the session."""
    from tests.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="session")
def gated_training_run(stack, pushgateway, webhook):
    """One real training run (German credit, model GATED_MODEL) with a Pushgateway set.

    Returns (exit code, run summary, KFP run id). Shared by the tests of what gates push
    and record and of what notify posts (only this run posts to `webhook`), so the run
    happens once per session.
    """
    params = REPO / "examples" / "training-german-credit.yaml"
    code, summary = _gated_run(
        stack, pushgateway, "training", "--params", str(params),
        "-p", f"data_uri={GERMAN_CREDIT}", "-p", f"model_name={GATED_MODEL}",
        webhook=webhook,
    )  # fmt: skip
    run_id = _run_id(GATED_MODEL, summary["model"]["version"]) if code == 0 else ""
    return code, summary, run_id


@pytest.fixture(scope="session")
def gated_monitoring_run(gated_training_run, stack, pushgateway, tmp_path_factory):
    """A monitoring run on shifted data after gated_training_run: drift, then a retrain.

    The champion is the training run's model, so prediction drift is measured too.
    Returns (exit code, run summary, KFP run id).
    """
    from tests.test_pipeline_monitoring import _shifted

    # 6 of the model's 9 input columns: over the 0.5 share.
    current = _shifted(tmp_path_factory.mktemp("gated-monitoring") / "shifted.csv", purpose=True)
    params = REPO / "examples" / "training-german-credit.yaml"
    # The champion's data and parameters but another seed: something new to learn
    # (check_novelty skips a retrain whose data, parameters and code are the champion's).
    code, summary = _gated_run(
        stack, pushgateway, "monitoring", "--params", str(params), "-p", f"current_uri={current}",
        "-p", f"reference_uri={GERMAN_CREDIT}", "-p", f"retrain_data_uri={GERMAN_CREDIT}",
        "-p", f"model_name={GATED_MODEL}", "-p", "random_seed=7",
    )  # fmt: skip
    registered = code == 0 and summary["model"]
    return code, summary, _run_id(GATED_MODEL, summary["model"]["version"]) if registered else ""
