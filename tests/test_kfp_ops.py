"""kfp-mlops upload/run/schedule/runs against the FAKE KFP server; rollback against real MLflow."""

import hashlib
import json
import urllib.error
import urllib.request
import uuid

import pytest

from components._shared.image import package_version
from kfp_mlops.cli.main import main
from kfp_mlops.errors import UsageError
from kfp_mlops.kfp.cron import validate_cron
from pipelines.descriptors import PIPELINES, compiled_path
from tests.conftest import REPO, free_port
from tests.fake_kfp_server import FakeKfpServer
from tests.test_register_model import artifacts, credit, evaluation, run  # noqa: F401

TOKEN = "tok-3f9a1c77e2"
PARAMS = REPO / "examples" / "training-german-credit.yaml"
TRAINING = PIPELINES["training"]
# Keyed by task key; the fake reports each task by its display name, as the KFP backend does.
BLESSED = {"load-data": "SUCCEEDED", **dict.fromkeys(TRAINING.gates.values(), "SUCCEEDED"),
           TRAINING.train_task: "SUCCEEDED", TRAINING.register_task: "SUCCEEDED"}  # fmt: skip


@pytest.fixture
def fake():
    server = FakeKfpServer(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def kfp(fake, monkeypatch, tmp_path, capsys):
    """Run `kfp-mlops ...` in-process against the fake; return (code, stdout, stderr)."""
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", fake.url)
    monkeypatch.setenv("KF_PIPELINES_TOKEN", TOKEN)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "no-token-here"))
    monkeypatch.delenv("KF_PIPELINES_UI_ENDPOINT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client reads ~/.config/kfp/context.json

    def cli(*args):
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return cli


def bodies(fake, path: str) -> list[dict]:
    return [r["body"] for r in fake.requests if r["method"] == "POST" and r["path"] == path]


# -- upload ------------------------------------------------------------------------------------


def test_upload_creates_pipeline_then_same_spec_again_creates_nothing(kfp, fake):
    code, out, _ = kfp("upload", "training")
    assert code == 0 and "created pipeline kfp-mlops-training" in out
    code, out, _ = kfp("upload", "training")
    assert code == 0 and "already uploaded" in out and "nothing created" in out
    (pipeline,) = fake.pipelines.values()
    assert pipeline["display_name"] == "kfp-mlops-training"
    assert len(fake.versions[pipeline["pipeline_id"]]) == 1


def test_upload_changed_spec_creates_version_named_by_package_version_and_hash(
    kfp, fake, tmp_path, monkeypatch
):
    assert kfp("upload", "training")[0] == 0
    changed = tmp_path / "training.yaml"
    changed.write_text(compiled_path("training").read_text() + "# recompiled\n")
    monkeypatch.setattr("components._shared.compiled.COMPILED_DIR", tmp_path)
    code, out, _ = kfp("upload", "training")
    sha = hashlib.sha256(changed.read_bytes()).hexdigest()
    name = f"{package_version()}-{sha[:12]}"
    assert code == 0 and f"created version {name!r}" in out
    (versions,) = fake.versions.values()
    assert [v["display_name"] for v in versions][1] == name and sha in versions[1]["description"]
    assert "nothing created" in kfp("upload", "training")[1]
    assert len(versions) == 2


# -- run ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("final", "tasks", "code", "says"),
    [
        ("SUCCEEDED", BLESSED, 0, "every gate blessed the model; register model ran"),
        ("SUCCEEDED", BLESSED | {"register-model": "SKIPPED"}, 3, "a gate rejected the model"),
        ("SUCCEEDED", {"load-data": "SUCCEEDED", "evaluate-model": "SUCCEEDED"}, 3, "not run"),
        ("FAILED", {"load-data": "SUCCEEDED", "validate-data": "FAILED"}, 1, "at validate data"),
    ],
)
def test_run_wait_judges_the_run_by_the_display_names_the_server_reports(
    kfp, fake, final, tasks, code, says
):
    assert kfp("upload", "training")[0] == 0
    fake.script_next_run([("RUNNING", {"load-data": "RUNNING"}), (final, tasks)])
    got, out, _ = kfp("run", "training", "--params", str(PARAMS), "-p", "estimator=random_forest",
                      "-p", "hyperparameters={}", "--wait", "--poll", "0.01")  # fmt: skip
    assert got == code, out
    assert "run RUNNING" in out and "snapshot data                RUNNING" in out
    assert "register-model" not in out  # a real server never reports task keys
    assert f"run {final}" in out and says in out
    assert f"{fake.url}/#/runs/details/" in out
    (body,) = bodies(fake, "/apis/v2beta1/runs")
    assert body["runtime_config"]["parameters"]["estimator"] == "random_forest"
    # What the params file does not set takes the spec's default on the server: not sent.
    assert body["runtime_config"]["parameters"]["hyperparameters"] == {}
    assert "min_accuracy" not in body["runtime_config"]["parameters"]
    (pipeline,) = fake.pipelines.values()
    assert body["pipeline_version_reference"]["pipeline_id"] == pipeline["pipeline_id"]


def test_run_without_wait_prints_run_url_and_exits_0(kfp, fake):
    assert kfp("upload", "training")[0] == 0
    code, out, _ = kfp("run", "training", "--experiment", "nightly")
    (run_id,) = fake.runs
    assert code == 0 and f"{fake.url}/#/runs/details/{run_id}" in out
    assert [e["display_name"] for e in fake.experiments.values()] == ["nightly"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (
            "estimator: random_forest\nnot_a_param: 1\n",
            "unknown parameter 'not_a_param' for pipeline training",
        ),
        ("test_size: big\n", "parameter test_size must be double, got str"),
        ("promote: 1\n", "parameter promote must be boolean, got int"),
    ],
)
def test_run_bad_params_rejected_before_any_request(kfp, fake, tmp_path, content, says):
    params = tmp_path / "params.yaml"
    params.write_text(content)
    code, _, err = kfp("run", "training", "--params", str(params), "--wait")
    assert code == 2 and says in err
    assert fake.requests == []


def test_run_of_a_spec_not_uploaded_says_upload_first(kfp, fake):
    code, _, err = kfp("run", "training")
    assert code == 2 and "run `kfp-mlops upload training` first" in err
    assert not fake.runs


def test_run_wait_timeout_says_the_run_goes_on(kfp, fake):
    assert kfp("upload", "training")[0] == 0
    fake.script_next_run([("RUNNING", {})] * 1000)
    code, _, err = kfp("run", "training", "--wait", "--poll", "0.01", "--timeout", "0.05")
    assert code == 1 and "still RUNNING after 0.05 s; it goes on" in err


@pytest.mark.parametrize(
    ("tasks", "code", "says"),
    [
        ({"resolve-reference": "SUCCEEDED", "detect-drift": "SUCCEEDED"}, 0, "no model to gate"),
        (BLESSED, 0, "every gate blessed the model"),
        (BLESSED | {"register-model": "SKIPPED"}, 3, "a gate rejected the model"),
    ],
    ids=["no-drift", "drifted-retrained-blessed", "drifted-retrained-rejected"],
)
def test_run_wait_monitoring_verdict_depends_on_whether_it_retrained(kfp, fake, tasks, code, says):
    assert kfp("upload", "monitoring")[0] == 0
    fake.script_next_run([("SUCCEEDED", tasks)])
    got, out, _ = kfp("run", "monitoring", "--wait", "--poll", "0.01")
    assert got == code and says in out, out


def test_fake_server_refuses_a_task_the_spec_does_not_have(kfp, fake):
    assert kfp("upload", "training")[0] == 0
    assert kfp("run", "training")[0] == 0
    (run_id,) = fake.runs
    with pytest.raises(ValueError, match="not in the spec"):
        fake.set_run(run_id, "SUCCEEDED", {"no-such-task": "SUCCEEDED"})


# -- schedule ----------------------------------------------------------------------------------


def test_schedule_records_6_field_cron_with_catchup_off(kfp, fake):
    assert kfp("upload", "monitoring")[0] == 0
    code, out, _ = kfp("schedule", "monitoring", "--cron", "0 0 6 * * *", "-p", "drift_share=0.3")
    assert code == 0 and "catch-up off" in out
    (body,) = bodies(fake, "/apis/v2beta1/recurringruns")
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 6 * * *"}}
    assert body["no_catchup"] is True and body["mode"] == "ENABLE"
    assert body["runtime_config"]["parameters"] == {"drift_share": 0.3}
    assert body["display_name"] == "kfp-mlops-monitoring-schedule"


def test_schedule_catchup_flag_turns_backfill_on(kfp, fake):
    assert kfp("upload", "monitoring")[0] == 0
    assert kfp("schedule", "monitoring", "--cron", "0 30 6 * * MON-FRI", "--catchup")[0] == 0
    (body,) = bodies(fake, "/apis/v2beta1/recurringruns")
    assert body["no_catchup"] is False


def test_schedule_five_field_cron_shows_the_six_field_equivalent(kfp, fake):
    code, _, err = kfp("schedule", "monitoring", "--cron", "30 6 * * 1")
    assert code == 2 and "has 5 fields" in err and "--cron '0 30 6 * * 1'" in err
    assert fake.requests == []


def test_schedule_same_name_needs_replace_which_deletes_the_old_one(kfp, fake):
    assert kfp("upload", "monitoring")[0] == 0
    assert kfp("schedule", "monitoring", "--cron", "0 0 6 * * *", "--name", "daily")[0] == 0
    (old,) = fake.recurring_runs
    code, _, err = kfp("schedule", "monitoring", "--cron", "0 0 7 * * *", "--name", "daily")
    assert code == 2 and "already exists" in err and "--replace" in err
    assert list(fake.recurring_runs) == [old]
    code, out, _ = kfp(
        "schedule", "monitoring", "--cron", "0 0 7 * * *", "--name", "daily", "--replace"
    )
    assert code == 0 and f"replaced {old}" in out
    (new,) = fake.recurring_runs.values()
    assert (
        new["recurring_run_id"] != old and new["trigger"]["cron_schedule"]["cron"] == "0 0 7 * * *"
    )


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("0 61 * * * *", "61 is out of range for minute (0-59)"),
        ("0 0 24 * * *", "24 is out of range for hour (0-23)"),
        ("0 0 0 32 * *", "32 is out of range for day-of-month (1-31)"),
        ("0 0 0 * 13 *", "13 is out of range for month (1-12)"),
        ("0 0 0 * * 7", "7 is out of range for day-of-week (0-6)"),
        ("0 0 0 * FOO *", "'FOO' is not a number or one of ['JAN'"),
        ("0 5-1 * * * *", "range 5-1 runs backwards"),
        ("0 */0 * * * *", "step after '/' must be a positive number"),
        ("0 ? * * * *", "'?' is only allowed for day-of-month and day-of-week"),
        ("* * *", "has 3 field(s); KFP wants 6"),
        ("", "has 0 field(s)"),
    ],
)
def test_validate_cron_rejects_with_the_reason(expr, says):
    with pytest.raises(UsageError, match="cron") as info:
        validate_cron(expr)
    assert says in str(info.value)


@pytest.mark.parametrize(
    "expr", ["0 0 6 * * *", "0 */15 8-18 * * MON-FRI", "0 0 6 ? * 1,3,5", "30 0 0 1 JAN-MAR *",
             "0  0 6 * * *", "@daily"],
)  # fmt: skip
def test_validate_cron_accepts_kfp_syntax(expr):
    assert validate_cron(expr) == " ".join(expr.split())


def test_schedule_invalid_cron_sends_nothing(kfp, fake):
    code, _, err = kfp("schedule", "monitoring", "--cron", "0 0 25 * * *")
    assert code == 2 and "25 is out of range for hour" in err
    assert fake.requests == []


# -- runs --------------------------------------------------------------------------------------


def test_runs_lists_newest_first_with_state_and_version(kfp, fake):
    assert kfp("upload", "training")[0] == 0
    assert kfp("upload", "monitoring")[0] == 0
    for pipeline in ("training", "monitoring", "training"):
        assert kfp("run", pipeline)[0] == 0
    newest = max(fake.runs.values(), key=lambda r: r["created_at"])
    fake.set_run(newest["run_id"], "SUCCEEDED", BLESSED)
    code, out, _ = kfp("runs", "--output", "json")
    rows = json.loads(out)
    assert code == 0 and [r["pipeline"] for r in rows] == ["training", "monitoring", "training"]
    assert rows[0]["state"] == "SUCCEEDED" and rows[1]["state"] == "PENDING"
    assert rows[0]["version"] == "kfp-mlops-training" and rows[0]["created_at"]
    only = json.loads(kfp("runs", "--pipeline", "monitoring", "--output", "json")[1])
    assert [r["pipeline"] for r in only] == ["monitoring"]
    assert len(json.loads(kfp("runs", "--limit", "2", "--output", "json")[1])) == 2
    code, text, _ = kfp("runs", "--limit", "1")
    assert code == 0 and "SUCCEEDED" in text and newest["run_id"] in text


# -- connection and bad input ------------------------------------------------------------------


def test_auth_refused_names_the_token_source_and_never_prints_the_token(kfp, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_TOKEN", "wrong-token-value")
    code, out, err = kfp("upload", "training")
    assert code == 1 and "refused authentication (HTTP 401)" in err
    assert "token used: KF_PIPELINES_TOKEN" in err and "--token" in err
    assert "wrong-token-value" not in out + err and TOKEN not in out + err


def test_auth_uses_service_account_token_file(kfp, fake, monkeypatch, tmp_path):
    monkeypatch.delenv("KF_PIPELINES_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text("stale-token\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token_file))
    code, _, err = kfp("upload", "training")
    assert code == 1 and f"token used: service-account token file {token_file}" in err
    token_file.write_text(TOKEN + "\n")
    assert kfp("upload", "training")[0] == 0


def test_unreachable_host_names_host_and_env_var(kfp, monkeypatch):
    host = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", host)
    code, _, err = kfp("runs")
    assert code == 1 and f"KFP API at {host} is unreachable" in err
    assert "KF_PIPELINES_ENDPOINT" in err


def test_no_host_is_a_usage_error(kfp, fake, monkeypatch):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT")
    code, _, err = kfp("upload", "training")
    assert code == 2 and "--host" in err and "KF_PIPELINES_ENDPOINT" in err


@pytest.mark.parametrize(
    "command", [["upload", "trainig"], ["run", "trainig"], ["runs", "--pipeline", "x"]]
)
def test_unknown_pipeline_lists_known_ones_before_any_request(kfp, fake, command):
    code, _, err = kfp(*command)
    known = "['compare-live', 'deploy', 'monitoring', 'monitoring-fleet', 'training']"
    assert code == 2 and f"expected one of {known}" in err
    assert fake.requests == []


# -- the fake itself is strict -----------------------------------------------------------------


def post(fake, path: str, body: dict, token: str | None = TOKEN) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(fake.url + path, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/apis/v2beta1/experiments", {"display_name": "x", "colour": "red"}, 400,
         'unknown field "colour" in V2beta1Experiment'),
        ("/apis/v2beta1/experiments", {"display_name": 7}, 400, "invalid value for string field"),
        ("/apis/v2beta1/experiments", {"description": "no name"}, 400, "Experiment name is empty"),
        ("/apis/v2beta1/runs", {"display_name": "r", "state": "DONE"}, 400,
         "enum type V2beta1RuntimeState"),
        ("/apis/v2beta1/runs", {"display_name": "r"}, 400, "must reference a pipeline version"),
        ("/apis/v2beta1/runs", {"display_name": "r", "runtime_config": {"parameters": []}}, 400,
         "invalid value for map field runtime_config.parameters"),
    ],
)  # fmt: skip
def test_fake_rejects_bodies_that_do_not_fit_the_models(fake, path, body, status, says):
    code, answer = post(fake, path, body)
    assert code == status and says in answer["message"] and answer["code"] == 3


def test_fake_requires_the_bearer_token(fake):
    code, answer = post(fake, "/apis/v2beta1/experiments", {"display_name": "x"}, token=None)
    assert code == 401 and answer["code"] == 16
    assert post(fake, "/apis/v2beta1/experiments", {"display_name": "x"})[0] == 200


# -- rollback (real MLflow server) -------------------------------------------------------------


def register_two_champions(tmp_path, credit, name: str) -> None:  # noqa: F811
    run(tmp_path, artifacts(tmp_path, credit, model_name=name))
    better = artifacts(tmp_path, credit, seed=1, model_name=name)
    better["evaluation_report"].metadata.update(evaluation(0.85, 1.0, 0.8))
    assert run(tmp_path, better)["meta"]["promoted"] is True


def test_rollback_moves_champion_back_and_records_who_when_why(
    cli,
    tmp_path,
    credit,  # noqa: F811
    monkeypatch,
):
    from mlflow import MlflowClient

    name = f"rollback-{uuid.uuid4().hex[:6]}"
    register_two_champions(tmp_path, credit, name)
    client = MlflowClient()
    v2 = client.get_model_version(name, "2").tags
    assert v2["kfp_mlops.previous_champion"] == "1" and v2["kfp_mlops.champion_since"]
    monkeypatch.setenv("KFP_MLOPS_USER", "alice")
    code, out, err = cli("rollback", name, "--reason", "bad predictions in prod")
    assert code == 0 and "from v2 to v1 by alice" in out, err
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    demoted, restored = (client.get_model_version(name, v).tags for v in ("2", "1"))
    assert demoted["kfp_mlops.rolled_back_by"] == "alice"
    assert demoted["kfp_mlops.rollback_reason"] == "bad predictions in prod"
    assert demoted["kfp_mlops.rolled_back_at"].endswith("+00:00")
    assert restored["kfp_mlops.restored_from"] == "2"
    assert restored["kfp_mlops.restore_reason"] == "bad predictions in prod"
    # v1 replaced no one: a second rollback has nowhere to go.
    code, _, err = cli("rollback", name, "--reason", "again")
    assert code == 1 and "records no previous champion" in err
    assert f"kfp-mlops promote {name} VERSION --alias champion --reason TEXT" in err
    assert client.get_model_version_by_alias(name, "champion").version == "1"


def test_rollback_without_previous_champion_changes_nothing(cli, tmp_path, credit, capsys):  # noqa: F811
    from mlflow import MlflowClient

    name = f"single-{uuid.uuid4().hex[:6]}"
    run(tmp_path, artifacts(tmp_path, credit, model_name=name))
    before = MlflowClient().get_model_version(name, "1").tags
    capsys.readouterr()  # registration's own output
    code, out, err = cli("rollback", name, "--reason", "x")
    assert code == 1 and "champion v1 records no previous champion" in err and out == ""
    assert MlflowClient().get_model_version_by_alias(name, "champion").version == "1"
    assert MlflowClient().get_model_version(name, "1").tags == before


def test_rollback_unknown_model_says_so(cli):
    code, _, err = cli("rollback", "no-such-model-anywhere", "--reason", "x")
    assert code == 1 and "no registered model 'no-such-model-anywhere'" in err


def test_rollback_to_a_version_whose_file_is_not_the_recorded_one_refuses(
    cli,
    tmp_path,
    credit,  # noqa: F811
    capsys,
):
    from mlflow import MlflowClient

    name = f"tampered-{uuid.uuid4().hex[:6]}"
    register_two_champions(tmp_path, credit, name)
    client = MlflowClient()
    client.set_model_version_tag(name, "1", "model_sha256", "0" * 64)  # not v1's file any more
    before = client.get_registered_model(name).tags
    capsys.readouterr()  # registration's own output
    code, out, err = cli("rollback", name, "--reason", "x")
    assert code == 1 and out == ""
    assert "previous champion v1 cannot be rolled back to" in err and "nothing was changed" in err
    assert "0" * 64 in err  # names the mismatch
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert client.get_registered_model(name).tags == before  # no record, no move
