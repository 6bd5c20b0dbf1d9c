"""No secret anywhere: credentials in the tracking URI and the S3 keys never reach an output.

The runs get an MLflow tracking URI carrying `user:password@` (long random values; the
stack's MLflow has no auth and ignores them, as a cluster's would not) and the stack's own
long random S3 keys. Four full runs through the CLI — training blessed, training failing
validation, monitoring without drift, monitoring failing on a missing current object — then
every surface is scanned for every secret, raw, URL-encoded and as a Basic-auth token: the
CLI's stdout and stderr, the JSON summaries, every file under the runs' folders (kfp.local
task logs, reports, artifacts, executor outputs) and MLflow (registered model and version
tags, every run's params and tags, every logged artifact, the model files).
"""

import base64
import io
import json
import os
import secrets
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest

from kfp_mlops.runs.render import render_text
from kfp_mlops.runs.summaries import summarize
from tests.conftest import GERMAN_CREDIT, REPO

PARAMS = REPO / "examples" / "training-german-credit.yaml"
MODEL = "secrets-scan"
PREFIX = "s3://kfp-mlops-data/secrets-scan"
USER = "kfpuser" + secrets.token_hex(12)
# "!" and "/" must be percent-encoded in a URI: the raw and the encoded form differ.
PASSWORD = secrets.token_urlsafe(24) + "!/x"


def tracking_uri(port: int) -> str:
    """The stack's MLflow with a user and password in the URI, as a secret would give it."""
    return f"http://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}"


def secret_forms(stack) -> dict[str, str]:
    """Label → a form of a secret that must appear nowhere (labels, not values, are reported)."""
    access_key, secret_key = stack.env()["AWS_ACCESS_KEY_ID"], stack.env()["AWS_SECRET_ACCESS_KEY"]
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    forms = {
        "mlflow user": USER,
        "mlflow password": PASSWORD,
        "mlflow password (URL-encoded)": quote(PASSWORD, safe=""),
        "mlflow Basic auth token": basic,
        "S3 access key": access_key,
        "S3 secret key": secret_key,
        "S3 secret key (URL-encoded)": quote(secret_key, safe=""),
    }
    assert all(len(v) >= 16 for v in forms.values())  # distinctive: no match by chance
    return forms


def leaks(data: bytes | str, where: str, forms: dict[str, str]) -> list[str]:
    """`where: label` for each secret form found in `data`."""
    blob = data.encode() if isinstance(data, str) else data
    return [f"{where}: {label}" for label, value in forms.items() if value.encode() in blob]


def run_cli(main, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def runs(stack, tmp_path_factory):
    """The four runs, through `kfp-mlops run-local`, with credentials in the tracking URI."""
    from components._shared.io import upload_file
    from kfp_mlops.cli.main import main
    from kfp_mlops.stack import Stack

    folder = tmp_path_factory.mktemp("secrets")
    bad = pd.read_csv(GERMAN_CREDIT)
    bad.loc[:9, "sex"] = "unknown"  # outside the suite's value set: validation fails
    bad.to_csv(folder / "bad.csv", index=False)
    upload_file(GERMAN_CREDIT, f"{PREFIX}/german_credit.csv")
    upload_file(folder / "bad.csv", f"{PREFIX}/bad.csv")

    # The stack hands its environment to every run through Stack.env: that is where a
    # cluster's Secret would put a tracking URI with credentials.
    plain_env, handed_out = Stack.env, []

    def env_with_credentials(self):
        env = {**plain_env(self), "MLFLOW_TRACKING_URI": tracking_uri(self.mlflow_port)}
        handed_out.append(env["MLFLOW_TRACKING_URI"])
        return env

    training = ["run-local", "training", "--params", str(PARAMS), "-p", f"model_name={MODEL}"]
    monitoring = ["run-local", "monitoring", "-p", f"model_name={MODEL}"]
    before = set((stack.home / "runs").glob("*"))
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Stack, "env", env_with_credentials)
        mp.setenv("KFP_MLOPS_HOME", str(stack.home))
        mp.setenv("KFP_MLOPS_S3_PORT", str(stack.s3_port))
        mp.setenv("KFP_MLOPS_MLFLOW_PORT", str(stack.mlflow_port))
        mp.setenv("MLFLOW_TRACKING_URI", tracking_uri(stack.mlflow_port))
        for name, args in {
            "training blessed": [*training, "-p", f"data_uri={PREFIX}/german_credit.csv"],
            "training invalid data": [*training, "-p", f"data_uri={PREFIX}/bad.csv"],
            "monitoring no drift": [*monitoring, "-p", f"current_uri={PREFIX}/german_credit.csv"],
            "monitoring missing current": [*monitoring, "-p", f"current_uri={PREFIX}/absent.csv"],
        }.items():
            # Text output for the failing runs, JSON for the others: both printers are scanned.
            output = (
                ["--output", "json"] if "training blessed" in name or "no drift" in name else []
            )
            results[name] = run_cli(main, *args, *output)
    assert handed_out and all(USER in uri for uri in handed_out)  # the runs got the secret URI
    run_dirs = sorted(set((stack.home / "runs").glob("*")) - before)
    return results, run_dirs


def test_runs_took_the_succeeding_and_failing_paths(runs):
    results, run_dirs = runs
    codes = {name: code for name, (code, _out, _err) in results.items()}
    assert codes == {
        "training blessed": 0,
        "training invalid data": 1,
        "monitoring no drift": 0,
        "monitoring missing current": 1,
    }, {name: out[-2000:] for name, (_c, out, _e) in results.items()}
    blessed = json.loads(results["training blessed"][1])
    assert blessed["model"]["name"] == MODEL and "champion" in blessed["model"]["aliases"]
    assert "validate-data" in results["training invalid data"][1]
    assert "absent.csv" in results["monitoring missing current"][1]
    assert len(run_dirs) == 4


def test_cli_output_and_summaries_hold_no_secret(runs, stack):
    results, run_dirs = runs
    forms = secret_forms(stack)
    found = []
    for name, (_code, out, err) in results.items():
        found += leaks(out, f"{name} stdout", forms) + leaks(err, f"{name} stderr", forms)
    for run_dir in run_dirs:
        found += leaks((run_dir / "summary.json").read_bytes(), f"{run_dir.name}/summary", forms)
    assert found == []


def test_run_folders_hold_no_secret(runs, stack):
    _results, run_dirs = runs
    forms = secret_forms(stack)
    files = [p for run_dir in run_dirs for p in run_dir.rglob("*") if p.is_file()]
    # Logs (kfp.local task output), params, executor outputs, reports, models, datasets.
    names = {p.name for p in files}
    assert {"run.log", "params.json", "summary.json", "executor_output.json"} <= names
    assert len(files) > 40
    found = [hit for p in files for hit in leaks(p.read_bytes(), str(p.name), forms)]
    assert found == []
    # The scan does find a secret where one is on purpose: the stack's credentials file.
    credentials = (stack.home / "credentials.env").read_bytes()
    assert leaks(credentials, "credentials.env", forms) != []


def _mlflow_texts(client, tmp: Path) -> dict[str, bytes]:
    """Where → text of every registry and tracking record of MODEL, and every artifact file."""
    import mlflow

    texts: dict[str, bytes] = {}
    model = client.get_registered_model(MODEL)
    texts["registered model"] = repr((model.tags, model.description, model.aliases)).encode()
    versions = client.search_model_versions(f"name = '{MODEL}'")
    run_ids = {v.run_id for v in versions if v.run_id}
    for v in versions:
        record = (v.tags, v.description, v.source, v.run_link, v.aliases)
        texts[f"version {v.version}"] = repr(record).encode()
        folder = tmp / f"version-{v.version}"
        mlflow.artifacts.download_artifacts(artifact_uri=v.source, dst_path=str(folder))
        texts |= {f"model file {p.name}": p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    experiments = client.search_experiments()
    ids = [e.experiment_id for e in experiments]
    texts["experiments"] = repr(
        [(e.name, e.tags, e.artifact_location) for e in experiments]
    ).encode()
    for run in client.search_runs(ids, max_results=1000):
        run_ids.add(run.info.run_id)
    for run_id in run_ids:
        run = client.get_run(run_id)
        record = (run.data.params, run.data.tags, run.info.artifact_uri, run.info.run_name)
        texts[f"run {run_id}"] = repr(record).encode()
        folder = tmp / f"run-{run_id}"
        mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(folder))
        texts |= {
            f"run artifact {p.relative_to(folder)}": p.read_bytes()
            for p in folder.rglob("*")
            if p.is_file()
        }
    return texts


def test_mlflow_holds_no_secret(runs, stack, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
    texts = _mlflow_texts(client, tmp_path)
    assert any(where.endswith("lineage.json") for where in texts)
    assert any(where.endswith("model_card.md") for where in texts)
    forms = secret_forms(stack)
    assert [hit for where, text in texts.items() for hit in leaks(text, where, forms)] == []


def test_summary_redacts_errors_and_reasons_that_echo_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-secret-" + secrets.token_hex(16))
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    uri = f"http://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:5000"
    task = tmp_path / "outputs" / "1" / "evaluate-model"
    task.mkdir(parents=True)
    report = {"uri": "r", "metadata": {"passed": False, "reasons": [f"champion at {uri} failed"]}}
    (task / "executor_output.json").write_text(
        json.dumps({"artifacts": {"report": {"artifacts": [report]}}})
    )
    log = f"Inner task failed: 'evaluate-model'\nServiceError: {uri} refused key {secret}\n"

    summary = summarize("training", tmp_path, log, 1)
    text = json.dumps(summary) + render_text(summary, mlflow_url=uri)
    forms = {"user": USER, "password": quote(PASSWORD, safe=""), "S3 secret": secret}
    assert leaks(text, "summary", forms) == []
    assert summary["error"] == "ServiceError: http://***@127.0.0.1:5000 refused key ***"
    assert summary["gates"]["evaluation"]["reasons"] == [
        "champion at http://***@127.0.0.1:5000 failed"
    ]


def test_cli_error_naming_a_host_with_credentials_prints_it_masked(capsys):
    from kfp_mlops.cli.main import main
    from tests.conftest import free_port

    host = f"http://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}"  # nothing listens
    code = main(["upload", "training", "--host", host])
    err = capsys.readouterr().err
    assert code == 1 and "is unreachable" in err
    assert "http://***@127.0.0.1:" in err
    forms = {"user": USER, "password": PASSWORD, "password (URL-encoded)": quote(PASSWORD, safe="")}
    assert leaks(err, "stderr", forms) == []


def test_kfp_links_to_a_host_given_with_credentials_print_it_masked(capsys, monkeypatch, tmp_path):
    from kfp_mlops.cli.main import main
    from tests.fake_kfp_server import FakeKfpServer

    token = "tok-" + secrets.token_hex(16)
    monkeypatch.setenv("KF_PIPELINES_TOKEN", token)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "no-token-here"))
    monkeypatch.delenv("KF_PIPELINES_UI_ENDPOINT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client reads ~/.config/kfp/context.json
    fake = FakeKfpServer(token=token).start()
    try:
        host = fake.url.replace("http://", f"http://{USER}:{quote(PASSWORD, safe='')}@")
        uploaded = main(["upload", "training", "--host", host])
        started = main(["run", "training", "--host", host, "--params", str(PARAMS)])
    finally:
        fake.stop()
    out = capsys.readouterr()
    assert (uploaded, started) == (0, 0)
    assert out.out.count("UI  http://***@127.0.0.1:") == 2  # the pipeline's and the run's links
    forms = {"user": USER, "password": PASSWORD, "token": token}
    forms["password (URL-encoded)"] = quote(PASSWORD, safe="")
    assert leaks(out.out + out.err, "upload/run output", forms) == []
